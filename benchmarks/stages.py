"""The mesh's own cost per request, without network or profiler: for ``python -m benchmarks --profile``.

Two measurements, both on canned in-memory responses (``httpx2.MockTransport``), so they show only
client-side CPU:

- the whole client: ``openai.OpenAI`` vs ``MeshClient`` (both over a mock transport), per request;
- the routing pipeline stage by stage, timed with ``perf_counter_ns`` around each call, in the order
  the request flow makes them: ``ModelMesh.begin`` (parse the SDK request, start a
  run), ``RoutingRun.next_step`` (select a model), ``provider_request`` (the connector's request and
  the ``httpx2.Request``), ``RoutingRun.succeeded`` (health bookkeeping), the answer (``checked_answer``,
  ``whole_answer``: the SDK's response; usage accounting);
- ``StreamMonitor.feed`` over the events of one benchmark stream (the per-event cost of streaming).

It reaches into internals (``modelmesh.engine.exchange``, ``RoutingRun``) on purpose; when they change, this
module is what to update.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx2
import openai

import modelmesh
from benchmarks.cases import MESSAGES, POOL, Server, mesh_config
from benchmarks.server import COMPLETION, MODEL, stream_events

STAGES = ("begin", "next_step", "provider_request", "succeeded", "answer")


def _canned(request: httpx2.Request) -> httpx2.Response:
    return httpx2.Response(200, headers={"content-type": "application/json"}, content=COMPLETION)


def _interleaved_cpu_us(fns: dict[str, Callable[[], Any]], n: int, repeats: int = 9) -> dict[str, float]:
    """Median process CPU µs per call of each function, their rounds interleaved."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        for _ in range(n // 5):
            fn()
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.process_time()
            for _ in range(n):
                fn()
            samples[name].append((time.process_time() - start) / n * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def whole_client(server: Server, n: int = 300) -> list[str]:
    from modelmesh.transport import MeshTransport

    mock = httpx2.MockTransport(_canned)
    raw = openai.OpenAI(base_url=server.base_url, api_key="sk", http_client=httpx2.Client(transport=mock))
    mesh = modelmesh.create(POOL, config=mesh_config(server))
    transport = MeshTransport(mesh.mesh, http=httpx2.MockTransport(_canned))
    routed = modelmesh.MeshClient(http_client=httpx2.Client(transport=transport))
    cpu = _interleaved_cpu_us(
        {
            "raw": lambda: raw.chat.completions.create(model=MODEL, messages=MESSAGES),
            "mesh": lambda: routed.chat.completions.create(model=POOL, messages=MESSAGES),
        },
        n,
    )
    return [
        "== client CPU per non-streamed request, canned in-memory response (no network) ==",
        f"openai.OpenAI {cpu['raw']:.0f} µs, MeshClient {cpu['mesh']:.0f} µs: "
        f"the mesh adds {cpu['mesh'] - cpu['raw']:.0f} µs ({cpu['mesh'] / cpu['raw']:.2f}x)",
    ]


def pipeline(server: Server, n: int = 3000) -> list[str]:
    from modelmesh.engine.exchange import checked_answer, provider_request, rate_limit_headers, whole_answer

    client = modelmesh.create(POOL, config=mesh_config(server))
    mesh = client.mesh
    body = httpx2.Request(
        "POST", "http://modelmesh.local/v1/chat/completions", json={"model": POOL, "messages": MESSAGES}
    ).content
    totals = dict.fromkeys(STAGES, 0)
    clock = time.perf_counter_ns
    for index in range(n + n // 10):
        request = httpx2.Request(
            "POST",
            "http://modelmesh.local/v1/chat/completions",
            headers={"content-type": "application/json"},
            content=body,
        )
        request.read()
        upstream = _canned(request)
        t0 = clock()
        run = mesh.begin(request)
        t1 = clock()
        attempt = run.next_step()  # type: ignore[union-attr]
        t2 = clock()
        attempt.outbound = attempt.connector.build_request(run.request, attempt.model, attempt.provider)  # type: ignore[union-attr]
        provider_request(attempt)  # type: ignore[arg-type]
        t3 = clock()
        run.succeeded(attempt, rate_limit_headers(upstream))  # type: ignore[union-attr, arg-type]
        t4 = clock()
        content, usage = checked_answer(run, attempt, upstream, upstream.content)  # type: ignore[arg-type]
        whole_answer(run, attempt, upstream, content)  # type: ignore[arg-type]
        mesh.env.request_finished(run, attempt, content, usage)  # type: ignore[arg-type]
        t5 = clock()
        if index >= n // 10:  # the first tenth warms up
            for stage, spent in zip(STAGES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True):
                totals[stage] += spent
    lines = [f"== routing pipeline per non-streamed request, by stage (mean over {n}) =="]
    lines += [f"{totals[s] / n / 1000:8.1f} µs  {s}" for s in STAGES]
    lines.append(f"{sum(totals.values()) / n / 1000:8.1f} µs  total")
    return lines


def stream_monitor(server: Server, n: int = 2000) -> list[str]:
    """What watching a passthrough stream costs: ``StreamMonitor.feed`` over one benchmark stream."""
    from modelmesh.engine.streaming import StreamMonitor

    events = stream_events()

    def watch() -> None:
        monitor = StreamMonitor(None, wants_usage=False)
        for event in events:
            monitor.feed(event)

    per_stream = _interleaved_cpu_us({"watch": watch}, n)["watch"]
    return [
        f"== StreamMonitor.feed (modelmesh/engine/streaming.py) over one {len(events)}-event stream ==",
        f"{per_stream:.0f} µs per stream, {per_stream / len(events):.1f} µs per event",
    ]


def stage_report(server: Server) -> str:
    lines: list[str] = []
    for part in (whole_client, pipeline, stream_monitor):
        try:
            lines += part(server)
        except Exception as exc:  # internals moved: report it and keep the rest of the profile
            lines.append(f"({part.__name__} unavailable: {type(exc).__name__}: {exc})")
        lines.append("")
    return "\n".join(lines)
