"""The proxy as an ASGI app: routes, the key guard, and the request path into ``AsyncMeshTransport``.

Owns the order in which a request is handled (``Edge`` -> CORS -> router, or ``ProxiedPath`` straight
past it for proxied paths -> key guard -> concurrency limit -> body limit and timeout -> JSON checks ->
pools -> the mesh, cancelled if the client leaves -> relay) and turning an incoming request into the
``httpx2.Request`` the transport takes. It deliberately holds no routing: each request goes through
``AsyncMeshTransport.handle_async_request`` exactly as an in-process ``AsyncMeshClient`` request does
(over the proxy's own upstream client, ``upstream``). What the transport raises instead of answering
becomes an OpenAI-shaped error: a timeout 504, a connection failure 502. Settings live in
``settings``; the server in ``runner``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import httpx2

from modelmesh.dialects.lookup import COUNT_TOKENS
from modelmesh.serve import health
from modelmesh.serve.auth import KEY_IN_URL, UNAUTHORIZED, is_authorized, key_in_query
from modelmesh.serve.edge import ASGIApp, Edge, Message, Receive, Send
from modelmesh.serve.limits import checked_json, read_body
from modelmesh.serve.models import listing, pool_card, require_pool
from modelmesh.serve.relay import RelayResponse
from modelmesh.serve.replies import RequestRefused, send_error, send_json
from modelmesh.serve.settings import ProxySettings
from modelmesh.serve.status_page import RecentFailovers, StatusData, StatusPage
from modelmesh.transport import AsyncMeshTransport
from modelmesh.types import Endpoint

try:
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.routing import Route
except ImportError as exc:  # pragma: no cover - starlette is the `serve` extra
    raise ImportError("modelmesh serve needs starlette and uvicorn: pip install 'modelmesh[serve]'") from exc

if TYPE_CHECKING:
    from modelmesh.mesh import ModelMesh
    from modelmesh.serve.metrics import ProxyMetrics

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
_MESH_ORIGIN = "http://modelmesh.local"  # never resolved: the transport answers every request
_HOP_BY_HOP = frozenset(
    {b"connection", b"keep-alive", b"proxy-authenticate", b"proxy-authorization", b"te", b"trailer"}
    | {b"trailers", b"transfer-encoding", b"upgrade"}
)
# The proxy key must never reach the mesh (or a log line); the body is re-measured on each side.
_NOT_FORWARDED = _HOP_BY_HOP | {b"host", b"content-length", b"authorization", b"x-api-key"}
_MULTIPART = (f"/{Endpoint.TRANSCRIPTIONS.value}", f"/{Endpoint.TRANSLATIONS.value}")
_DIALECTS = ("/responses", "/messages", COUNT_TOKENS)  # client dialects (ADR 0003)
_JSON_BODIES = tuple(f"/{e.value}" for e in Endpoint if f"/{e.value}" not in _MULTIPART) + _DIALECTS
_ROUTED = _JSON_BODIES + _MULTIPART

logger = logging.getLogger("modelmesh.serve")


def create_app(
    mesh: ModelMesh, *, api_key: str | None = None, settings: ProxySettings | None = None
) -> Starlette:
    """The proxy as an ASGI app; with keys (``api_key`` or ``settings.api_keys``) every route but
    ``/health*`` needs ``Authorization: Bearer <key>``.

    The app owns the transport it creates (closed at lifespan shutdown), not ``mesh``: close that yourself.
    """
    settings = settings or ProxySettings()
    if api_key is not None:
        settings = dataclasses.replace(settings, api_keys=(api_key, *settings.api_keys))
    transport = AsyncMeshTransport(mesh)  # its own upstream client: httpx2 over an O(1) pool (ADR 0004)
    metrics = _metrics(mesh)
    keys = [key.encode() for key in settings.api_keys]
    recent = RecentFailovers()
    proxied = Route("/{path:path}", KeyGuard(ProxyEndpoint(mesh, transport, settings), keys), methods=METHODS)
    routes = [
        Route("/health", health.summary_endpoint(mesh), methods=["GET"]),
        Route("/health/live", health.live, methods=["GET"]),
        Route("/health/ready", health.ready_endpoint(mesh), methods=["GET"]),
        Route("/metrics", KeyGuard(MetricsEndpoint(metrics), keys)),
        Route("/ui", StatusPage(), methods=["GET"]),
        Route("/ui/status.json", KeyGuard(StatusData(mesh, recent), keys), methods=["GET"]),
        proxied,
    ]
    middleware = [Middleware(Edge, metrics, settings.access_log, recent)]  # outermost: sees every answer
    middleware += _cors(settings.cors_origins)
    middleware.append(Middleware(ProxiedPath, proxied, frozenset(r.path for r in routes if r is not proxied)))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await transport.aclose()

    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.mesh, app.state.transport, app.state.settings = mesh, transport, settings
    return app


def _cors(origins: tuple[str, ...]) -> list[Middleware]:
    """Browser access for ``origins`` only; preflights are answered before the key guard (they carry none)."""
    if not origins:
        return []
    cors = Middleware(
        CORSMiddleware,
        allow_origins=list(origins),
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=[
            *("authorization", "content-type", "x-session-id", "openai-organization"),
            *("x-api-key", "anthropic-version", "anthropic-beta"),
        ],
        expose_headers=["x-modelmesh-pool", "x-modelmesh-model", "x-modelmesh-provider", "retry-after"],
        max_age=600,
    )
    return [cors]


def _metrics(mesh: ModelMesh) -> ProxyMetrics | None:
    try:
        from modelmesh.serve.metrics import ProxyMetrics
    except ImportError as exc:
        logger.warning("%s: /metrics is off", exc)
        return None
    return ProxyMetrics(mesh)


class ProxiedPath:
    """Hands a proxied request straight to the proxy route, past Starlette's exception middleware and
    router: the router would pick that route anyway (every path but the named routes, in its methods).
    Innermost of the middleware, so CORS and ``Edge`` still see it; anything else goes on to the router."""

    def __init__(self, app: ASGIApp, proxied: Route, named: frozenset[str]) -> None:
        self.app, self.named = app, named
        self.proxied, self.methods = proxied.app, proxied.methods or set()

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if (
            scope["type"] == "http"
            and scope["method"] in self.methods
            and scope["path"] not in self.named
            and not scope.get("root_path")
        ):
            await self.proxied(scope, receive, send)
        else:
            await self.app(scope, receive, send)


class KeyGuard:
    """Lets a request through to ``app`` only with one of the proxy keys; a key in the URL is refused."""

    def __init__(self, app: ASGIApp, keys: list[bytes]) -> None:
        self.app, self.keys = app, keys

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        anthropic = is_anthropic_path(scope["path"])
        if key_in_query(scope.get("query_string", b"")):
            await send_error(send, RequestRefused(401, KEY_IN_URL, "api_key_in_url"), anthropic=anthropic)
            return
        if self.keys:
            authorization = next((v for k, v in scope["headers"] if k == b"authorization"), None)
            # The anthropic SDKs send their key as x-api-key: accepted on the Messages endpoints only.
            api_key = next((v for k, v in scope["headers"] if k == b"x-api-key"), None) if anthropic else None
            if not is_authorized(authorization, self.keys) and not (
                api_key and is_authorized(b"Bearer " + api_key, self.keys)
            ):
                refused = RequestRefused(401, UNAUTHORIZED, "invalid_api_key", {"www-authenticate": "Bearer"})
                await send_error(send, refused, anthropic=anthropic)
                return
        await self.app(scope, receive, send)


class MetricsEndpoint:
    def __init__(self, metrics: ProxyMetrics | None) -> None:
        self.metrics = metrics

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if self.metrics is None:
            refused = RequestRefused(
                404, "Metrics need prometheus-client: pip install 'modelmesh[serve]'.", "no_metrics"
            )
            await send_error(send, refused)
            return
        from modelmesh.serve.metrics import CONTENT_TYPE

        body = self.metrics.render()
        headers = [(b"content-type", CONTENT_TYPE.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})


class ProxyEndpoint:
    """Every path but health and metrics: checked, then answered by the mesh and relayed."""

    def __init__(self, mesh: ModelMesh, transport: AsyncMeshTransport, settings: ProxySettings) -> None:
        self.mesh, self.transport, self.settings = mesh, transport, settings
        self.in_flight = 0

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if self.in_flight >= self.settings.max_concurrency:
            message = (
                f"The proxy is answering {self.in_flight} requests, its limit (--max-concurrency): "
                "retry in a moment."
            )
            await send_error(
                send,
                RequestRefused(503, message, "proxy_overloaded", {"retry-after": "1"}, "server_error"),
                anthropic=is_anthropic_path(scope["path"]),
            )
            return
        self.in_flight += 1
        try:
            await self._handle(scope, receive, send)
        except RequestRefused as refused:
            await send_error(send, refused, anthropic=is_anthropic_path(scope["path"]))
        finally:
            self.in_flight -= 1

    async def _handle(self, scope: Message, receive: Receive, send: Send) -> None:
        headers = scope["headers"]
        length = next((v for k, v in headers if k == b"content-length"), None)
        s = self.settings
        body = await read_body(receive, length, limit=s.max_body_bytes, timeout_s=s.body_timeout_s)
        if body is None:
            return  # the client left mid-body: nobody to answer, nothing to log as an error
        path, method = scope["path"], scope["method"]
        if method == "GET" and (path.endswith("/models") or "/models/" in path):
            await self._models(path, scope, send)
            return
        if method != "POST" and path.endswith(_ROUTED):
            # Every routed OpenAI endpoint is a POST; another method would reach providers only to fail
            # there, and those failures would count against the models' health.
            message = f"{method} {path} is not served: use POST."
            raise RequestRefused(405, message, "method_not_allowed", {"allow": "POST"})
        json_body = path.endswith(_JSON_BODIES)
        if json_body:
            payload = checked_json(body, s.max_json_depth)
            if s.pools_only:
                require_pool(self.mesh, payload.get("model"))
        elif s.pools_only and path.endswith(_MULTIPART):
            from modelmesh.mesh.inbound import multipart_field

            content_type = next((v for k, v in headers if k == b"content-type"), b"").decode("latin-1")
            require_pool(self.mesh, multipart_field(body, content_type, "model"))
        answer = await self._answer(mesh_request(scope, body, as_json=json_body), receive)
        if answer is not None:
            relay = RelayResponse(
                self.mesh,
                answer,
                redact_errors=bool(s.redact_provider_errors),
                send_timeout_s=s.send_timeout_s,
                anthropic=is_anthropic_path(path),
            )
            await relay(send, receive=receive)

    async def _answer(self, request: httpx2.Request, receive: Receive) -> httpx2.Response | None:
        """The mesh's answer; None when the client left first (the run is cancelled, upstream closed)."""
        run = asyncio.ensure_future(self.transport.handle_async_request(request))
        if not await _unless_client_leaves(run, receive):
            return None
        try:
            return run.result()
        except httpx2.TimeoutException as exc:
            raise self._upstream_error(504, exc, "upstream_timeout") from None
        except httpx2.TransportError as exc:
            raise self._upstream_error(502, exc, "upstream_unavailable") from None

    def _upstream_error(self, status: int, exc: Exception, code: str) -> RequestRefused:
        # Attempt summaries quote provider errors; remote clients must not see a provider key echoed back.
        message = self.mesh.redact(str(exc).encode()).decode("utf-8", "replace") or type(exc).__name__
        if self.settings.redact_provider_errors:
            logger.warning("%s answered as %d without details: %r", code, status, message)
            what = "timed out" if status == 504 else "could not be reached"
            message = f"Every provider {what}. Details are in the proxy's logs."
        return RequestRefused(status, message, code, kind="server_error")

    async def _models(self, path: str, scope: Message, send: Send) -> None:
        wanted = path.rsplit("/models/", 1)[1] if "/models/" in path else None
        if wanted is not None and (card := pool_card(self.mesh, wanted)) is not None:
            await send_json(send, 200, card)
            return
        if wanted is not None and self.settings.pools_only:
            require_pool(self.mesh, wanted)
        answer = await self.transport.handle_async_request(mesh_request(scope, b"", as_json=False))
        if wanted is not None or answer.status_code != 200:
            await RelayResponse(self.mesh, answer, redact_errors=False)(send)
            return
        real = None if self.settings.pools_only else await answer.aread()
        await send_json(send, 200, listing(self.mesh, real))


def is_anthropic_path(path: str) -> bool:
    """The Anthropic Messages endpoints, whose errors (and key header) are Anthropic's."""
    return path.rstrip("/").endswith(("/messages", COUNT_TOKENS))


def mesh_request(scope: Message, body: bytes, *, as_json: bool) -> httpx2.Request:
    """The incoming request as the transport expects it: method, path and query, end-to-end headers, body.

    ``as_json``: the body was checked as JSON, so it is declared as such whatever the client said
    (``curl -d`` sends ``application/x-www-form-urlencoded``).
    """
    target = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    url = _url(_MESH_ORIGIN + target + (f"?{query}" if query else ""))
    # Headers named by Connection are hop-by-hop too (RFC 9110 §7.6.1).
    connection = next((v for k, v in scope["headers"] if k == b"connection"), b"")
    dropped = _NOT_FORWARDED | {t.strip().lower() for t in connection.split(b",")}
    if as_json:
        dropped = dropped | {b"content-type"}
    headers: list[tuple[bytes, bytes]] = [(k, v) for k, v in scope["headers"] if k not in dropped]
    if as_json:
        headers.append((b"content-type", b"application/json"))
    # Never sent on a wire (the mesh builds each provider request): no Host or Content-Length to add, so a
    # ready body stream spares httpx2's content encoder and header merging (~10 µs per request).
    request = httpx2.Request(scope["method"], url, headers=headers, stream=httpx2.ByteStream(body))
    request.read()
    return request


_URLS: dict[str, httpx2.URL] = {}


def _url(url: str) -> httpx2.URL:
    """Parsed once per distinct URL: parsing is most of building a request. Bounded: clients choose paths."""
    parsed = _URLS.get(url)
    if parsed is None:
        if len(_URLS) >= 256:
            _URLS.clear()
        parsed = _URLS[url] = httpx2.URL(url)
    return parsed


async def _unless_client_leaves(run: asyncio.Future[httpx2.Response], receive: Receive) -> bool:
    """Waits for ``run`` while listening for the client leaving: False, ``run`` cancelled, when it left.

    This task listens itself and ``run`` interrupts it when done: one task per request instead of a
    second one for the disconnect and an ``asyncio.wait`` over both (fewer objects and loop steps).
    """
    task = asyncio.current_task()
    assert task is not None
    listening = True  # a done callback may still run after this returns (it was already scheduled)

    def interrupt(_: object) -> None:
        nonlocal listening
        if listening:
            listening = False
            task.cancel()

    run.add_done_callback(interrupt)
    try:
        while (await receive())["type"] != "http.disconnect":  # the body is read: only a disconnect comes
            pass
    except asyncio.CancelledError:
        if not listening and task.uncancel() == 0:
            return True  # interrupted by the answer (with a shutdown's cancel too, the count stays above 0)
        await _abandon(run)
        raise
    finally:
        listening = False
        run.remove_done_callback(interrupt)
    if run.done():
        return True  # the answer came with the disconnect: relayed (uvicorn drops it), never left open
    await _abandon(run)
    return False


async def _abandon(run: asyncio.Future[httpx2.Response]) -> None:
    """Stops ``run`` (the upstream request is closed), or closes the answer it already has."""
    run.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        answer = await run
        await answer.aclose()
