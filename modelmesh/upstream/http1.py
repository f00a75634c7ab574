"""HTTP/1.1 connections from the proxy to providers, with answers parsed by httptools (C).

Owns one keep-alive connection's exchanges: writing a request (head and body, chunked when httpx2
declared it so) and reading the answer with httptools' parser, streamed as it arrives. Why not
httpcore2's connection: its pure-Python h11 state machine cost ~200 µs of CPU per request, about as
much as the rest of the proxy (measured with ``python -m benchmarks.proxy_profile``). It presents what
``upstream.UpstreamPool`` needs of a connection (httpcore2's ``is_idle``/``has_expired``/...) and raises
httpcore2's exceptions, so httpx2 maps failures as usual. It deliberately does no connection pooling,
TLS or socket work (``pool``, ``sockets``) and no HTTP/2.
"""

from __future__ import annotations

import time

import httpcore2
import httptools

_READ = 64 * 1024
_IDLE, _ACTIVE, _CLOSED = "idle", "active", "closed"


class Http1Connection:
    """One request at a time over ``stream``; reusable once an answer was read to its end."""

    def __init__(
        self, *, origin: object, stream: httpcore2.AsyncNetworkStream, keepalive_expiry: float | None
    ) -> None:
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

    async def aclose(self) -> None:
        self.state = _CLOSED
        await self.stream.aclose()

    async def handle_async_request(self, request: httpcore2.Request) -> httpcore2.Response:
        if self.state is not _IDLE:
            raise httpcore2.ConnectionNotAvailable()
        self.state, self.expire_at = _ACTIVE, None
        timeouts = request.extensions.get("timeout", {})
        answer = _Answer(self, request.method == b"HEAD", timeouts.get("read"))
        try:
            await self._send(request, timeouts.get("write"))
            await answer.read_head()
        except BaseException:
            await self.aclose()
            raise
        extensions = {
            "http_version": b"HTTP/1.1",
            "reason_phrase": answer.reason,
            "network_stream": self.stream,
        }
        return httpcore2.Response(
            status=answer.status, headers=answer.headers, content=answer, extensions=extensions
        )

    async def _send(self, request: httpcore2.Request, timeout: float | None) -> None:
        head = [request.method, b" ", request.url.target, b" HTTP/1.1\r\n"]
        chunked = False
        for name, value in request.headers:
            if b"\r" in name or b"\n" in name or b"\r" in value or b"\n" in value or b":" in name:
                raise httpcore2.LocalProtocolError(
                    f"Invalid header {name!r}: it holds a line break or colon."
                )
            head += (name, b": ", value, b"\r\n")
            chunked = chunked or (name.lower() == b"transfer-encoding" and b"chunked" in value.lower())
        head.append(b"\r\n")
        await self.stream.write(b"".join(head), timeout)
        async for chunk in request.stream:  # type: ignore[union-attr]
            if chunk and chunked:
                await self.stream.write(b"%x\r\n%s\r\n" % (len(chunk), chunk), timeout)
            elif chunk:
                await self.stream.write(chunk, timeout)
        if chunked:
            await self.stream.write(b"0\r\n\r\n", timeout)

    async def _answered(self, keep_alive: bool) -> None:
        """The answer was read to its end: the connection takes the next request, or is closed."""
        if keep_alive and self.state is _ACTIVE:
            self.state = _IDLE
            if self.keepalive_expiry is not None:
                self.expire_at = time.monotonic() + self.keepalive_expiry
        else:
            await self.aclose()


class _Answer:
    """The answer being read: httptools' callbacks fill it; iterating it streams the body."""

    def __init__(self, connection: Http1Connection, head_only: bool, timeout: float | None) -> None:
        self.connection, self.head_only, self.timeout = connection, head_only, timeout
        self.parser = httptools.HttpResponseParser(self)
        self.status, self.reason = 0, b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.head_done = self.done = False
        self.extra = False  # the server sent more than this answer: never reuse the connection
        self.keep_alive = False
        self.chunks: list[bytes] = []
        self.finished = False

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
        self.keep_alive = self.parser.should_keep_alive()  # only valid inside a callback
        if self.head_only and self.status >= 200:
            self.done = True  # a HEAD answer has no body, whatever its content-length says

    def on_body(self, body: bytes) -> None:
        if not self.extra:
            self.chunks.append(body)

    def on_message_complete(self) -> None:
        if not self.extra:
            self.done = True
            self.keep_alive = self.parser.should_keep_alive()  # only valid inside the callback

    async def read_head(self) -> None:
        while not (self.head_done and (self.status >= 200 or self.status == 101)):
            if not await self._feed():
                raise httpcore2.RemoteProtocolError("Server disconnected without sending a response.")
        if self.status == 101:
            raise httpcore2.RemoteProtocolError("The server switched protocols, which the proxy does not do.")

    async def _feed(self) -> bool:
        """Reads and parses what the server sent next; False at the end of the stream."""
        data = await self.connection.stream.read(_READ, self.timeout)
        if not data:
            return False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise httpcore2.RemoteProtocolError(
                f"The provider's answer is not valid HTTP/1.1: {exc}"
            ) from None
        return True

    def __aiter__(self) -> _Answer:
        return self

    async def __anext__(self) -> bytes:
        try:
            while not self.chunks:
                if self.done:
                    await self._finish()
                    raise StopAsyncIteration
                if not await self._feed() and not self._ended_by_close():
                    raise httpcore2.RemoteProtocolError("The server closed the connection mid-answer.")
        except StopAsyncIteration:
            raise
        except BaseException:
            await self.connection.aclose()
            raise
        chunk = self.chunks[0] if len(self.chunks) == 1 else b"".join(self.chunks)
        self.chunks.clear()
        return chunk

    def _ended_by_close(self) -> bool:
        """An answer with neither a length nor chunks ends where the connection does (RFC 9112 §6.3)."""
        names = {name.lower() for name, _ in self.headers}
        if b"content-length" in names or b"transfer-encoding" in names:
            return False
        self.done, self.extra = True, True  # and the connection is gone
        return True

    async def _finish(self) -> None:
        if not self.finished:
            self.finished = True
            await self.connection._answered(self.keep_alive and not self.extra)

    async def aclose(self) -> None:
        if self.done and not self.chunks:
            await self._finish()
        elif not self.finished:  # closed before its end: the rest would arrive on the next request
            self.finished = True
            await self.connection.aclose()
