"""The async sockets to providers: an httpcore2 network backend on plain asyncio protocols.

Owns opening TCP/Unix connections and TLS on them, and the byte streams the async HTTP/1.1
connections read and write. Why its own: httpcore2 asks each idle connection whether the server closed
it (``get_extra_info("is_readable")``) and its default anyio streams answer with a ``poll()`` syscall
through anyio's typed attributes (a third of a proxy worker's CPU at concurrency 64, measured with
``python -m benchmarks.proxy_profile``). A protocol that keeps reading while idle already knows of a
close from the event loop: the check is an attribute read. Reads and writes wait on one future each,
with one timer for their timeout. It deliberately parses no HTTP (``upstream.http1`` does) and has no
blocking twin: the sync connections use httpcore2's plain blocking sockets (ADR 0005).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore2

_PAUSE_AT = 256 * 1024  # bytes buffered before the socket stops being read (a client reading slowly)
_FLUSH_AT = 64 * 1024  # bytes of a request held back to be sent in one piece
_HAPPY_EYEBALLS_S = 0.25  # RFC 8305's connection attempt delay, as anyio (httpcore2's default) uses


class UpstreamBackend(httpcore2.AsyncNetworkBackend):
    """Opens TCP and Unix connections as asyncio protocols (works on uvloop too)."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        options: dict[str, Any] = {"local_addr": (local_address, 0) if local_address else None}
        if isinstance(loop, asyncio.BaseEventLoop):  # uvloop tries addresses one after the other
            options["happy_eyeballs_delay"] = _HAPPY_EYEBALLS_S
        connecting = loop.create_connection(_Protocol, host, port, **options)
        return await _connected(connecting, socket_options, timeout)

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        return await _connected(loop.create_unix_connection(_Protocol, path), socket_options, timeout)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


async def _connected(
    connecting: Any, socket_options: Iterable[Any] | None, timeout: float | None = None
) -> _Stream:
    try:
        async with asyncio.timeout(timeout):
            transport, protocol = await connecting
    except TimeoutError:
        raise httpcore2.ConnectTimeout(f"no connection within {timeout} s") from None
    except OSError as exc:
        raise httpcore2.ConnectError(str(exc)) from exc
    sock = transport.get_extra_info("socket")
    for option in socket_options or ():
        sock.setsockopt(*option)
    return _Stream(transport, protocol)


class _Protocol(asyncio.Protocol):
    """Buffers what arrives, idle or not, so a server's close is known without asking the socket."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.transport: Any = None
        self.closed = False  # end of stream or connection lost: nothing more will arrive
        self.error: Exception | None = None
        self.waiter: asyncio.Future[None] | None = None  # a read waiting for data
        self.drained: asyncio.Future[None] | None = None  # a write waiting for the send buffer
        self.reading_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _PAUSE_AT and not self.reading_paused:
            self.reading_paused = True
            self.transport.pause_reading()
        _wake(self.waiter)

    def eof_received(self) -> bool:
        self.closed = True
        _wake(self.waiter)
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed, self.error = True, exc
        _wake(self.waiter)
        _wake(self.drained)

    def pause_writing(self) -> None:
        self.drained = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        _wake(self.drained)
        self.drained = None


def _wake(waiter: asyncio.Future[None] | None) -> None:
    if waiter is not None and not waiter.done():
        waiter.set_result(None)


def _expire(waiter: asyncio.Future[None], error: Exception) -> None:
    if not waiter.done():
        waiter.set_exception(error)


class _Stream(httpcore2.AsyncNetworkStream):
    def __init__(self, transport: Any, protocol: _Protocol) -> None:
        self.transport, self.protocol = transport, protocol
        # Writes wait here until a read (the answer is awaited) or _FLUSH_AT bytes: a request's head
        # and body leave in one send, not two.
        self.pending: list[bytes] = []
        self.pending_size = 0

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        if self.pending:
            self._flush()
        p = self.protocol
        if not p.buffer and not p.closed:
            p.waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await _wait(waiter, timeout, httpcore2.ReadTimeout(f"no data within {timeout} s"))
            finally:
                p.waiter = None
        if p.buffer:
            data = bytes(p.buffer[:max_bytes])
            del p.buffer[:max_bytes]
            if p.reading_paused and len(p.buffer) < _PAUSE_AT // 2 and not p.closed:
                p.reading_paused = False
                self.transport.resume_reading()
            return data
        if p.error is not None:
            raise httpcore2.ReadError(str(p.error) or type(p.error).__name__)
        return b""  # the server closed the connection: httpcore2 reads that as a disconnect

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        if not buffer:
            return
        if self.protocol.closed or self.transport.is_closing():
            raise httpcore2.WriteError("the connection was closed")
        self.pending.append(buffer)
        self.pending_size += len(buffer)
        if self.pending_size < _FLUSH_AT:
            return
        self._flush()
        drained = self.protocol.drained
        if drained is not None:
            await _wait(drained, timeout, httpcore2.WriteTimeout(f"could not send within {timeout} s"))
            if self.protocol.closed:
                raise httpcore2.WriteError("the connection was closed while sending")

    def _flush(self) -> None:
        data = self.pending[0] if len(self.pending) == 1 else b"".join(self.pending)
        self.pending, self.pending_size = [], 0
        if not self.transport.is_closing():  # else the read that follows finds the connection closed
            self.transport.write(data)

    async def aclose(self) -> None:
        self.transport.close()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(timeout):
                tls = await loop.start_tls(
                    self.transport, self.protocol, ssl_context, server_hostname=server_hostname
                )
        except TimeoutError:
            self.transport.close()
            raise httpcore2.ConnectTimeout(f"no TLS handshake within {timeout} s") from None
        except (OSError, ssl.SSLError) as exc:
            self.transport.close()
            # asyncio reports a peer's close mid-handshake as a ConnectionResetError without a word
            message = str(exc) or f"the connection was closed during the TLS handshake ({type(exc).__name__})"
            raise httpcore2.ConnectError(message) from exc
        if tls is None:  # pragma: no cover - the loop closed the connection during the handshake
            raise httpcore2.ConnectError("the connection was closed during the TLS handshake")
        self.protocol.transport = tls
        return _Stream(tls, self.protocol)

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":  # httpcore2: an idle connection the server closed (or wrote to)
            return bool(self.protocol.buffer) or self.protocol.closed
        extra = {"ssl_object": "ssl_object", "client_addr": "sockname", "server_addr": "peername"}
        if info in extra:
            return self.transport.get_extra_info(extra[info])
        if info == "socket":
            return self.transport.get_extra_info("socket")
        return None


async def _wait(waiter: asyncio.Future[None], timeout: float | None, error: Exception) -> None:
    """``waiter``, failed with ``error`` after ``timeout``: one timer, cheaper than ``asyncio.timeout``."""
    if timeout is None:
        await waiter
        return
    timer = asyncio.get_running_loop().call_later(timeout, _expire, waiter, error)
    try:
        await waiter
    finally:
        timer.cancel()
