"""The outermost layer of the proxy: one access-log line and one metrics observation per request.

Owns what is recorded about each request: method, path (never the query string, where a careless
client may put a key), status, duration, and the routing headers of the answer. A request whose client
left before any answer is logged with status 499 (nginx's "client closed request"). It deliberately
changes nothing in the request or the answer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

from modelmesh.types import Endpoint

if TYPE_CHECKING:
    from modelmesh.serve.metrics import ProxyMetrics
    from modelmesh.serve.status_page import RecentFailovers

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Message, Receive, Send], Awaitable[None]]

access_logger = logging.getLogger("modelmesh.serve.access")
logger = logging.getLogger("modelmesh.serve")
_ROUTING = (b"x-modelmesh-pool", b"x-modelmesh-model", b"x-modelmesh-attempts", b"x-modelmesh-failovers")
CLIENT_CLOSED = 499
_DIALECT_ROUTES = ("/v1/responses", "/v1/messages/count_tokens", "/v1/messages")
_ROUTES = (
    *(f"/v1/{e.value}" for e in Endpoint),
    *_DIALECT_ROUTES,
    "/v1/models",
    "/health",
    "/metrics",
    "/ui",
)


def route_of(path: str) -> str:
    """A bounded label for a path: client-chosen paths must not create one time series each."""
    for route in _ROUTES:
        if path == route or path.startswith(route + "/"):
            return route
    return "other"


class Edge:
    """Wraps the app: times each request, records it in ``metrics``, ``recent`` and the access log."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: ProxyMetrics | None,
        access_log: str,
        recent: RecentFailovers | None = None,
    ) -> None:
        self.app, self.metrics, self.access_log, self.recent = app, metrics, access_log, recent

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        seen: dict[str, Any] = {"status": CLIENT_CLOSED, "first_byte_s": None, "routing": {}}

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                seen["status"] = message["status"]
                seen["first_byte_s"] = time.perf_counter() - start
                seen["routing"] = {k: v for k, v in message.get("headers", ()) if k in _ROUTING}
            await send(message)

        if self.metrics is not None:
            self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, watched)
        except asyncio.CancelledError:
            # uvicorn cancels requests still running when the shutdown grace period ends (or the exit is
            # forced); re-raised, each would print "Exception in ASGI application" and a traceback.
            logger.warning('"%s %s" cut off by the shutdown', scope["method"], logged_path(scope))
        except Exception:
            if seen["first_byte_s"] is None:
                seen["status"] = 500  # uvicorn answers 500 for an app that raised before answering
            raise
        finally:
            if self.metrics is not None:
                self.metrics.in_flight.dec()
            self._record(scope, seen, time.perf_counter() - start)

    def _record(self, scope: Message, seen: dict[str, Any], seconds: float) -> None:
        routing = {k.decode()[len("x-modelmesh-") :]: v.decode("latin-1") for k, v in seen["routing"].items()}
        if self.metrics is not None:
            route = route_of(scope["path"])
            self.metrics.observe(route, scope["method"], seen["status"], seconds, seen["first_byte_s"])
            if "pool" in routing:
                self.metrics.routed(routing["pool"], routing.get("attempts"), routing.get("failovers"))
        if self.recent is not None and routing:
            self.recent.record(seen["status"], routing)
        if self.access_log != "off" and access_logger.isEnabledFor(logging.INFO):
            access_logger.info(_line(self.access_log, scope, seen["status"], seconds, routing))


def logged_path(scope: Message) -> str:
    """The path as the client sent it, still percent-encoded: a decoded ``%0A`` would forge log lines.

    Never the query string, where a careless client may put a key.
    """
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else scope["path"].encode("unicode_escape").decode("ascii")


def _line(style: str, scope: Message, status: int, seconds: float, routing: dict[str, str]) -> str:
    client = scope.get("client") or ("-", 0)
    if style == "json":
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "client": client[0],
            "method": scope["method"],
            "path": logged_path(scope),
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            **routing,
        }
        return json.dumps(entry)
    model = f" {routing['model']}" if "model" in routing else ""
    return f'{client[0]} "{scope["method"]} {logged_path(scope)}" {status} {seconds * 1000:.1f} ms{model}'


def configure_access_log(style: str) -> None:
    """Access-log lines to stderr, one JSON object or text line each (``style``: json, text or off)."""
    if style == "off" or access_logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    access_logger.addHandler(handler)
    access_logger.setLevel(logging.INFO)
    access_logger.propagate = False
