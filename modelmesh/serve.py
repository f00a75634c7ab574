"""``modelmesh serve``: an OpenAI-compatible HTTP proxy in front of one ``ModelMesh``, for any language.

Owns the HTTP edge only: optional proxy auth, ``GET /health``, turning an incoming request into the
``httpx2.Request`` that ``AsyncMeshTransport`` takes, and relaying its response (status, headers, body
or SSE stream) back. It deliberately holds no routing: every other request goes through
``AsyncMeshTransport.handle_async_request`` exactly as an in-process ``AsyncMeshClient`` request does,
so pools, failover, quotas and errors behave the same over HTTP. What the transport raises instead of
answering becomes an OpenAI-shaped error: a timeout 504, a connection failure 502.

Starlette is imported by this module and uvicorn by :func:`serve`; ``import modelmesh`` imports
neither (nothing in the package imports this module eagerly).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import httpx2
import openai

from modelmesh.transport import AsyncMeshTransport

try:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - starlette is the `serve` extra
    raise ImportError("modelmesh serve needs starlette and uvicorn: pip install 'modelmesh[serve]'") from exc

if TYPE_CHECKING:
    from modelmesh.mesh import ModelMesh

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
KEY_ENV = "MODELMESH_PROXY_KEY"
METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_MESH_ORIGIN = "http://modelmesh.local"  # never resolved: the transport answers every request
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer", "trailers"}
    | {"transfer-encoding", "upgrade"}
)
# The proxy key must never reach the mesh (or a log line); the body is re-measured on each side.
_NOT_FORWARDED = _HOP_BY_HOP | {"host", "content-length", "authorization"}
# uvicorn adds its own date and server headers; a provider's would make them appear twice.
_NOT_RETURNED = _HOP_BY_HOP | {"date", "server"}

logger = logging.getLogger("modelmesh.serve")


def create_app(mesh: ModelMesh, *, api_key: str | None = None) -> Starlette:
    """The proxy as an ASGI app; with ``api_key``, every route but ``/health`` needs ``Bearer <key>``.

    The app owns the transport it creates (closed at lifespan shutdown), not ``mesh``: close that yourself.
    """
    if api_key is not None and not api_key.strip():
        raise ValueError("api_key must not be empty (pass None to serve without proxy auth)")
    transport = AsyncMeshTransport(mesh)

    async def proxy(request: Request) -> Response:
        if api_key is not None and not _is_authorized(request, api_key):
            return _error(
                401,
                "Missing or invalid proxy API key: send 'Authorization: Bearer <key>'.",
                "invalid_api_key",
                "invalid_request_error",
                {"www-authenticate": "Bearer"},
            )
        outgoing = await mesh_request(request)
        try:
            answer = await transport.handle_async_request(outgoing)
        except httpx2.TimeoutException as exc:
            return _error(504, _message(mesh, exc), "upstream_timeout")
        except httpx2.TransportError as exc:
            return _error(502, _message(mesh, exc), "upstream_unavailable")
        return RelayResponse(answer)

    async def health(request: Request) -> Response:
        return JSONResponse(health_summary(mesh))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await transport.aclose()

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/{path:path}", proxy, methods=METHODS),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.mesh, app.state.transport = mesh, transport
    return app


def serve(
    mesh: ModelMesh,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    api_key: str | None = None,
    log_level: str = "info",
) -> None:
    """Run the proxy with uvicorn until interrupted (Ctrl-C / SIGTERM); ``mesh`` stays open."""
    try:
        import uvicorn
    except ImportError as exc:  # pragma: no cover - uvicorn is the `testing` extra
        raise ImportError("modelmesh serve needs uvicorn: pip install 'modelmesh[serve]'") from exc
    app = create_app(mesh, api_key=api_key)
    auth = "on" if api_key is not None else "off"
    logger.info("pools %s on http://%s:%d/v1 (proxy auth %s)", sorted(mesh.pools), host, port, auth)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="on")).run()


async def mesh_request(request: Request) -> httpx2.Request:
    """The incoming request as the transport expects it: method, path and query, end-to-end headers, body."""
    scope = request.scope
    target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    url = _MESH_ORIGIN + target + (f"?{query}" if query else "")
    # Headers named by Connection are hop-by-hop too (RFC 9110 §7.6.1).
    named = {t.strip().lower() for t in request.headers.get("connection", "").split(",")}
    dropped = _NOT_FORWARDED | named
    headers = [(k, v) for k, v in scope["headers"] if k.decode("latin-1").lower() not in dropped]
    return httpx2.Request(scope["method"], url, headers=headers, content=await request.body())


def health_summary(mesh: ModelMesh) -> dict[str, Any]:
    """``GET /health``: ``ok`` when every pool has an active model, else ``degraded`` (still 200)."""
    pools = {
        name: {
            "active": status.active,
            "standby": status.standby,
            "total": status.total,
            "current_model": status.current_model,
        }
        for name, status in mesh.pool_status().items()
    }
    degraded = any(pool["active"] == 0 for pool in pools.values())
    return {"status": "degraded" if degraded else "ok", "pools": pools}


class RelayResponse(Response):
    """Sends the mesh's response as it comes; a client that leaves closes the provider stream at once.

    Why a watcher: uvicorn's ``send`` silently drops data for a gone client, so without listening for
    ``http.disconnect`` a relay would keep reading (and paying for) a provider stream nobody receives.
    """

    def __init__(self, answer: httpx2.Response) -> None:
        self.answer = answer
        self.status_code = answer.status_code
        self.background = None
        self.raw_headers = [
            (k.encode("latin-1"), v.encode("latin-1"))
            for k, v in answer.headers.multi_items()
            if k.lower() not in _NOT_RETURNED
        ]
        if answer.status_code >= 400 and "x-should-retry" not in answer.headers:
            # An in-process mesh client never retries (max_retries=0); remote SDKs should not either.
            self.raw_headers.append((b"x-should-retry", b"false"))

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        if isinstance(self.answer.stream, httpx2.ByteStream):  # a whole body: nothing to watch
            body = await self.answer.aread()
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        pump = asyncio.ensure_future(self._pump(send))
        gone = asyncio.ensure_future(_disconnect(receive))
        try:
            await asyncio.wait((pump, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            pump.cancel()  # a no-op when the relay ended; else the client left: stop reading upstream
            outcome, _ = await asyncio.gather(pump, gone, return_exceptions=True)
            await self.answer.aclose()
        if isinstance(outcome, Exception):
            raise outcome

    async def _pump(self, send: Send) -> None:
        chunks = self.answer.stream.__aiter__()  # type: ignore[union-attr]
        try:
            async for chunk in chunks:
                if chunk:
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except openai.APIError as exc:
            # StreamInterruptedError after the 200 went out: an SSE error event is what clients parse
            # (the openai SDKs raise APIError from it); the stream then ends without [DONE].
            await send({"type": "http.response.body", "body": _sse_error(exc), "more_body": True})
        finally:
            # Closing the relay generator runs its cleanup (upstream closed, the run reported) now,
            # not whenever the garbage collector reaches it.
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


def _is_authorized(request: Request, api_key: str) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    # compare_digest: the check takes the same time however much of a guessed key is right.
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), api_key.encode())


def _message(mesh: ModelMesh, exc: Exception) -> str:
    # Attempt summaries quote provider errors; remote clients must not see a provider key echoed back.
    return mesh.redact(str(exc).encode()).decode("utf-8", "replace") or type(exc).__name__


def _error(
    status: int,
    message: str,
    code: str,
    kind: str = "server_error",
    headers: dict[str, str] | None = None,
) -> Response:
    body = {"error": {"message": message, "type": kind, "code": code, "param": None}}
    # The mesh already retried and failed over: a client SDK retrying on top would multiply the wait.
    return JSONResponse(body, status_code=status, headers={"x-should-retry": "false", **(headers or {})})


def _sse_error(exc: openai.APIError) -> bytes:
    error = {
        "message": exc.message,
        "type": "stream_interrupted",
        "code": "stream_interrupted",
        "param": None,
    }
    if isinstance(exc.body, dict):
        error.update({k: v for k, v in exc.body.items() if k in ("partial_text", "model")})
    return b"data: " + json.dumps({"error": error}).encode() + b"\n\n"
