"""The HTTP/1.1 server protocols the proxy runs under uvicorn, each with a deadline for the request head.

Owns what uvicorn lacks against slow or oversized request heads: a deadline for each head (request line
and headers), armed when a connection opens and again when a keep-alive connection finishes an answer,
so a client trickling header bytes cannot hold a connection forever; and, on the httptools parser
(which has none), the 16 KiB head size limit h11 enforces. :func:`default_protocol` picks httptools (C,
what ``uvicorn[standard]`` uses) when importable, else h11. Bodies, their deadline and the JSON checks
are the app's (``limits``). It deliberately leaves everything else to uvicorn's own protocols.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is a core dependency on CPython; without it (PyPy) the proxy runs on h11
    HTTPTOOLS = False
else:
    HTTPTOOLS = True

DEFAULT_HEAD_TIMEOUT_S = 10.0
MAX_HEAD_BYTES = 16 * 1024  # h11's default limit for an incomplete event, which uvicorn's h11 protocol keeps


class _HeadDeadline:
    """The timer both protocols share; each says when a head is complete and when one is awaited."""

    _head_timer: asyncio.TimerHandle | None = None
    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport
    config: Any

    @property
    def head_timeout_s(self) -> float:
        return float(getattr(self.config, "header_timeout_s", DEFAULT_HEAD_TIMEOUT_S))

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout_s, self._expired)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _expired(self) -> None:
        self._head_timer = None
        if self._awaiting_head() and not self.transport.is_closing():
            self.transport.close()

    def _awaiting_head(self) -> bool:
        raise NotImplementedError


class HeaderDeadlineProtocol(_HeadDeadline, H11Protocol):
    """uvicorn's h11 protocol with a deadline for each request's head."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # a request head has arrived
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._arm()  # a keep-alive connection: the next head has the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _awaiting_head(self) -> bool:
        return self.conn.their_state is h11.IDLE


class _HeadTooLarge(Exception):
    """Raised in a parser callback: httptools stops and uvicorn answers 400 and closes, as h11 does."""


if HTTPTOOLS:

    class HttpToolsDeadlineProtocol(_HeadDeadline, HttpToolsProtocol):
        """uvicorn's httptools protocol with a deadline for each request's head and h11's size limit."""

        _head_bytes = 0
        _head_done = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._head_bytes, self._head_done = 0, False

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)  # ": " and CRLF
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            self._head_done = True
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            pipelined = bool(self.pipeline)  # uvicorn starts the next queued request: its head is in
            super().on_response_complete()
            if not self.transport.is_closing() and not pipelined:
                self._head_done = False
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _count(self, size: int) -> None:
            self._head_bytes += size
            if self._head_bytes > MAX_HEAD_BYTES:
                raise _HeadTooLarge

        def _awaiting_head(self) -> bool:
            return not self._head_done


def default_protocol() -> type[asyncio.Protocol]:
    """httptools' protocol when installed (several times faster to parse), else h11's."""
    return HttpToolsDeadlineProtocol if HTTPTOOLS else HeaderDeadlineProtocol


def header_deadline_protocol(timeout_s: float, parser: str = "auto") -> type[asyncio.Protocol]:
    """The proxy's protocol (``parser``: ``auto``, ``httptools`` or ``h11``) with a fixed head deadline,
    for a plain ``uvicorn.Config`` (tests, embedding)."""
    if parser == "h11" or (parser == "auto" and not HTTPTOOLS):
        base: type[Any] = HeaderDeadlineProtocol
    elif HTTPTOOLS:
        base = HttpToolsDeadlineProtocol
    else:
        raise ValueError(f"parser {parser!r} is not installed: pip install httptools, or use 'h11'")

    class FixedDeadlineProtocol(base):
        @property
        def head_timeout_s(self) -> float:
            return timeout_s

    return FixedDeadlineProtocol
