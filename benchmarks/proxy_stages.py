"""``python -m benchmarks.proxy_stages``: where ``modelmesh serve``'s time goes, one layer at a time.

Three ASGI apps run in turn under uvicorn (the proxy's HTTP protocol and event loop: httptools and uvloop
when installed; one process each) against the same upstream and load
as ``benchmarks.proxy``: ``echo`` answers ``{}`` itself (the HTTP server alone), ``transport`` hands each
request to ``AsyncMeshTransport`` with no checks (the routing core and its upstream call), ``proxy`` is
``modelmesh.serve.create_app`` (the proxy edge on top). Then the transport alone, in-process, with no
HTTP server at all (``--profile``: and where its time goes under cProfile at concurrency 64).
``python -m benchmarks.proxy_stages APP PORT UPSTREAM`` runs one app; without arguments, all are measured.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from benchmarks.cases import MODEL, serve
from benchmarks.load import KEY
from benchmarks.proxy import _free_port, _port_of, _process, measure, report

APPS = ("echo", "transport", "proxy")


def build(kind: str, upstream: str) -> Any:
    from modelmesh.builder import build_mesh
    from modelmesh.client import build_config

    config = {
        "providers": {"openai": {"api_key": "sk-bench", "base_url": upstream}},
        "pools": {"chat-completion": {"capability": "chat-completion", "models": [MODEL]}},
    }
    mesh = build_mesh(build_config([], config=config))
    if kind == "mesh":
        return mesh
    if kind == "proxy":
        from modelmesh.serve import ProxySettings, create_app

        return create_app(
            mesh, settings=ProxySettings(api_keys=(KEY,), access_log="off", max_concurrency=4096)
        )
    return _bare(mesh, kind)


def _bare(mesh: Any, kind: str) -> Any:
    import httpx2

    from modelmesh.transport import AsyncMeshTransport
    from modelmesh.upstream.pool import upstream_transport

    transport = AsyncMeshTransport(mesh, http=upstream_transport())

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        status, data = 200, b"{}"
        if kind == "transport" and scope["method"] == "POST":  # GET: the readiness probe
            headers = [(k, v) for k, v in scope["headers"] if k not in (b"host", b"content-length")]
            url = "http://modelmesh.local" + scope["path"]
            answer = await transport.handle_async_request(
                httpx2.Request("POST", url, headers=headers, content=body)
            )
            status, data = answer.status_code, await answer.aread()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": data})

    return app


def main() -> int:
    if len(sys.argv) == 4:
        import uvicorn

        kind, port, upstream = sys.argv[1], int(sys.argv[2]), sys.argv[3]
        from modelmesh.serve.protocols import default_protocol

        app = build(kind, upstream)
        uvicorn.run(app, port=port, log_level="warning", access_log=False, http=default_protocol())
        return 0
    results = []
    with serve("minimal") as upstream:
        for concurrency in (1, 16):
            results.append(measure("upstream", _port_of(upstream.base_url), "closed", concurrency, 4, None))
        for kind in APPS:
            port = _free_port()
            argv = [sys.executable, "-m", "benchmarks.proxy_stages", kind, str(port), upstream.base_url]
            health = "/health/live" if kind == "proxy" else "/"
            with _process(argv, dict(os.environ), port, health, []) as pid:
                for concurrency in (1, 16):
                    results.append(measure(kind, port, "closed", concurrency, 4, pid))
        in_process(upstream.base_url, profile="--profile" in sys.argv)
    results.sort(key=lambda r: r.load)
    print(report(results))
    return 0


def in_process(upstream: str, *, profile: bool) -> None:
    """``AsyncMeshTransport`` driven directly (one event loop, as the proxy does), at concurrency 1 and 64."""
    import asyncio
    import cProfile
    import pstats
    import time

    import httpx2

    from benchmarks.load import BODY
    from modelmesh.transport import AsyncMeshTransport
    from modelmesh.upstream.pool import upstream_transport

    transport = AsyncMeshTransport(build("mesh", upstream), http=upstream_transport())

    async def client(n: int) -> None:
        for _ in range(n):
            request = httpx2.Request("POST", "http://modelmesh.local/v1/chat/completions", content=BODY)
            await (await transport.handle_async_request(request)).aread()

    async def rounds() -> None:
        for concurrency, n in ((1, 2000), (64, 40)):
            await asyncio.gather(*(client(5) for _ in range(concurrency)))  # warm-up: connections
            start = time.perf_counter()
            await asyncio.gather(*(client(n) for _ in range(concurrency)))
            per_request = (time.perf_counter() - start) / (concurrency * n)
            print(f"transport in-process, concurrency {concurrency}: {1 / per_request:,.0f} req/s")
        if profile:
            profiler = cProfile.Profile()
            profiler.enable()
            await asyncio.gather(*(client(40) for _ in range(64)))
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
        await transport.aclose()

    asyncio.run(rounds())


if __name__ == "__main__":
    sys.exit(main())
