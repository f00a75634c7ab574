"""HTTP/1.1 for the client to providers, without I/O (sans-IO, ADR 0005): answers parsed by httptools.

Owns what knows HTTP: a request serialised to bytes (head, body, chunked framing when httpx2 declared
it, header-injection checks), an answer parsed from the bytes the server sent (httptools, C), its
framing (length, chunked, until close, HEAD, informational 1xx answers), the limits a hostile server
meets (100 KiB of head or framing without a body byte, as h11's; the read timeout as a bound on the wait
for progress, not on each read), whether the connection is reusable afterwards (never after bytes beyond
the answer or a request cut short), and one connection's life (idle, busy, closed, expired). Why not
httpcore2's connection: its pure-Python h11 state machine costs ~130-200 µs of CPU per exchange, about as
much as the rest of the proxy (``python -m benchmarks.proxy_profile``). It raises httpcore2's exceptions, so
httpx2 maps failures as usual. It deliberately moves no bytes: ``upstream.connections`` drives it over
a socket, blocking or awaiting; no pooling (``upstream.ledger``), TLS or HTTP/2.
"""

from __future__ import annotations

import time
from typing import Any

import httpcore2
import httptools

READ_SIZE = 64 * 1024  # bytes asked of the socket per read
_FLUSH_AT = 64 * 1024  # bytes of a request held back to be sent in one piece
_MAX_FRAMING = 100 * 1024  # bytes of head, 1xx answers or chunk framing in a row: httpcore2's (h11's) limit
_IDLE, _ACTIVE, _CLOSED = "idle", "active", "closed"
_SWITCHED = "The server switched protocols (101), which the mesh does not do."
CLOSED_HERE = "The connection was closed by the mesh (its client was closed) while the answer was read."


def _head(request: httpcore2.Request) -> tuple[bytes, bool]:
    """The request line and headers, and whether httpx2 declared the body chunked.

    Checked on the joined bytes, the slow per-header look only when needed: ~4 µs, not ~16 µs.
    """
    headers = request.headers
    fields = b"".join([b"%s: %s\r\n" % field for field in headers])
    lines = len(headers)
    if (
        fields.count(b"\n") != lines
        or fields.count(b"\r") != lines
        or b":" in b"".join([n for n, _ in headers])
    ):
        _refuse(headers)
    chunked = b"transfer-encoding" in fields.lower() and _is_chunked(headers)
    return b"%s %s HTTP/1.1\r\n%s\r\n" % (request.method, request.url.target, fields), chunked


def _refuse(headers: list[tuple[bytes, bytes]]) -> None:
    """Names the header that would inject lines into the request (or end its head early)."""
    for name, value in headers:
        if b"\r" in name or b"\n" in name or b"\r" in value or b"\n" in value or b":" in name:
            raise httpcore2.LocalProtocolError(f"Invalid header {name!r}: it holds a line break or colon.")


def _is_chunked(headers: list[tuple[bytes, bytes]]) -> bool:
    return any(
        name.lower() == b"transfer-encoding" and b"chunked" in value.lower() for name, value in headers
    )


class Http1Exchange:
    """One request and its answer: bytes to send out, bytes received fed in; httptools calls back."""

    def __init__(self, request: httpcore2.Request) -> None:
        head, self.chunked = _head(request)
        self.outgoing, self.outgoing_size = [head], len(head)
        timeouts = request.extensions.get("timeout", {})
        self.read_timeout, self.write_timeout = timeouts.get("read"), timeouts.get("write")
        self.head_only = request.method == b"HEAD"
        self.parser = httptools.HttpResponseParser(self)
        self.status, self.reason = 0, b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = self.done = False
        self.idle_bytes = 0  # bytes received since the final head or a body byte last came
        self.progressed = False  # the final head or end came in the bytes being parsed
        self.wait_until: float | None = None  # when the wait for progress ends (set at the first read)
        self.extra = False  # the server sent more than this answer: never reuse the connection
        self.keep_alive = False
        self.chunks: list[bytes] = []
        self.finished = False  # the reader let go of the answer
        self.cut_short = False  # the request could not be sent whole: never reuse the connection

    # What to send: the head waits to leave with the body (one write, not two).
    def body(self, chunk: bytes) -> bytes:
        """What to send for one piece of the request body: b"" while it is held back for more."""
        if chunk:
            piece = b"%x\r\n%s\r\n" % (len(chunk), chunk) if self.chunked else chunk
            self.outgoing.append(piece)
            self.outgoing_size += len(piece)
        return self._flush() if self.outgoing_size >= _FLUSH_AT else b""

    def end(self) -> bytes:
        """What is left to send once the body has ended."""
        if self.chunked:
            self.outgoing.append(b"0\r\n\r\n")
        return self._flush()

    def _flush(self) -> bytes:
        data = self.outgoing[0] if len(self.outgoing) == 1 else b"".join(self.outgoing)
        self.outgoing, self.outgoing_size = [], 0
        return data

    # What was received.
    def feed(self, data: bytes) -> None:
        """Parses what the server sent next; ``b""`` is the server closing the connection."""
        if not data:
            self._closed_by_server()
            return
        try:
            self.parser.feed_data(data)
            if self.chunks or self.progressed:  # body bytes came, or the final head or end
                self.idle_bytes, self.progressed, self.wait_until = 0, False, None
            else:
                self._within_limit(len(data))
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:  # the latter is no subclass
            if self.done and self.status >= 200:  # junk after a whole answer: keep it, drop the connection
                self.extra = True
                return
            if self.head_done and self.status == 101:  # httptools stops at a switch of protocols
                raise httpcore2.RemoteProtocolError(_SWITCHED) from None
            raise httpcore2.RemoteProtocolError(
                f"The provider's answer is not valid HTTP/1.1: {exc}"
            ) from None

    def _within_limit(self, size: int) -> None:
        """Refuses framing that keeps growing (a head, 1xx answers, a chunk header, trailers): httptools
        sets no limit, memory would follow, and with no body byte coming no deadline is looked at."""
        self.idle_bytes += size
        if self.idle_bytes > _MAX_FRAMING:
            raise httpcore2.RemoteProtocolError(
                f"The provider sent over {_MAX_FRAMING // 1024} KiB of answer head or framing without "
                "a body byte (httpcore2's limit, which the mesh used before): not an answer the mesh reads."
            )

    def _closed_by_server(self) -> None:
        if not self.head_done or self.status < 200:
            raise httpcore2.RemoteProtocolError("Server disconnected without sending a response.")
        names = {name.lower() for name, _ in self.headers}
        if self.done or b"content-length" in names or b"transfer-encoding" in names:
            raise httpcore2.RemoteProtocolError("The server closed the connection mid-answer.")
        self.done, self.extra = (
            True,
            True,
        )  # no length nor chunks: it ends with the connection (RFC 9112 §6.3)

    def wait(self) -> float | None:
        """How long the next read may wait. The read timeout bounds the wait for progress (the whole
        head, the next body byte, the end), not each read: bytes trickled that make none (a head or
        chunk framing, a byte at a time) would hold the caller for ages, as httpcore2's did."""
        if self.read_timeout is None:
            return None
        now = time.monotonic()
        if self.wait_until is None:
            self.wait_until = now + self.read_timeout
        elif now >= self.wait_until:
            raise self.late()
        return self.wait_until - now

    def late(self) -> httpcore2.ReadTimeout:
        """What a read timeout is (whatever the read itself had left to wait)."""
        return httpcore2.ReadTimeout(f"no answer head or body byte within {self.read_timeout} s")

    def head_ready(self) -> bool:
        """The final answer's head was read (informational 1xx answers are skipped)."""
        if not self.head_done or (self.status < 200 and self.status != 101):
            return False
        if self.status == 101:
            raise httpcore2.RemoteProtocolError(_SWITCHED)
        return True

    def take(self) -> bytes | None:
        """The body bytes received so far; ``b""`` at the answer's end; None when more must be read."""
        if self.chunks:
            chunk = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
            self.chunks.clear()
            return chunk
        return b"" if self.done else None

    def response(self, content: Any, stream: object) -> httpcore2.Response:
        extensions = {"http_version": b"HTTP/1.1", "reason_phrase": self.reason, "network_stream": stream}
        return httpcore2.Response(
            status=self.status, headers=self.headers, content=content, extensions=extensions
        )

    # httptools callbacks; after the final answer, whatever else arrives is ignored (self.extra)
    def on_message_begin(self) -> None:
        if self.done and self.status >= 200:
            self.extra = True
        if not self.extra:  # a first answer, or the one after an informational (1xx) one
            self.status, self.reason, self.headers, self.head_done, self.done = 0, b"", [], False, False

    def on_status(self, status: bytes) -> None:
        if not self.extra:
            self.reason += status

    def on_header(self, name: bytes, value: bytes) -> None:
        if not self.extra:
            self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.extra:
            return
        self.status = self.parser.get_status_code()
        self.head_done = True
        self.progressed = self.status >= 200
        self.keep_alive = self.parser.should_keep_alive()  # only valid inside a callback
        if self.head_only and self.status >= 200:
            self.done = True  # a HEAD answer has no body, whatever its content-length says

    def on_body(self, body: bytes) -> None:
        if not self.extra:
            self.chunks.append(body)

    def on_message_complete(self) -> None:
        if not self.extra:
            self.done = True
            self.progressed = self.status >= 200
            self.keep_alive = self.parser.should_keep_alive()  # only valid inside the callback


class Http1Connection:
    """One connection's life, one request at a time: what httpcore2's pools ask of a connection.

    ``stream`` is an httpcore2 network stream, sync or async; only its non-blocking
    ``get_extra_info("is_readable")`` is asked here. The drivers add sending, reading and closing.
    """

    def __init__(self, *, origin: object, stream: Any, keepalive_expiry: float | None) -> None:
        self.origin, self.stream, self.keepalive_expiry = origin, stream, keepalive_expiry
        self.state = _IDLE
        self.expire_at: float | None = None

    def is_idle(self) -> bool:
        return self.state is _IDLE

    def is_available(self) -> bool:
        return self.state is _IDLE

    def is_closed(self) -> bool:
        return self.state is _CLOSED

    def has_expired(self) -> bool:
        """Idle past the keep-alive expiry, or closed (or written to) by the server while idle."""
        if self.state is not _IDLE:
            return False
        if self.expire_at is not None and time.monotonic() > self.expire_at:
            return True
        return bool(self.stream.get_extra_info("is_readable"))

    def begin(self, request: httpcore2.Request) -> Http1Exchange:
        """The exchange of ``request`` on this connection, which is busy until the answer is let go."""
        if self.state is not _IDLE:
            raise httpcore2.ConnectionNotAvailable()
        exchange = Http1Exchange(request)  # before the state changes: a bad header leaves it idle
        self.state, self.expire_at = _ACTIVE, None
        return exchange

    def let_go(self, exchange: Http1Exchange) -> bool:
        """The answer's reader is done with it: True when the connection must now be closed.

        Read to its end, a kept-alive answer leaves the connection idle for the next request; an
        answer let go before its end would leave its rest to arrive on the next request.
        """
        if exchange.finished or self.state is _CLOSED:
            return False
        exchange.finished = True
        if (
            exchange.done
            and not exchange.chunks
            and exchange.keep_alive
            and not exchange.extra
            and not exchange.cut_short
        ):
            self.state = _IDLE
            if self.keepalive_expiry is not None:
                self.expire_at = time.monotonic() + self.keepalive_expiry
            return False
        self.state = _CLOSED
        return True

    def received(self, exchange: Http1Exchange, data: bytes) -> None:
        """Feeds ``exchange`` what a read returned: an end of stream on a connection closed here (its
        pool closed) is no server's doing, and must not be blamed on the provider."""
        if not data and self.state is _CLOSED:
            raise httpcore2.ReadError(CLOSED_HERE)
        exchange.feed(data)

    def closing(self) -> None:
        self.state = _CLOSED
