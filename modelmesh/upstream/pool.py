"""The HTTP clients to providers: httpx2's transports over connection pools with O(1) bookkeeping.

Owns :func:`upstream_transport` (what ``AsyncMeshTransport`` sends through, in the proxy and in
``AsyncMeshClient`` alike; ADR 0004) and :func:`sync_upstream_transport` (what ``MeshTransport`` sends
through, under ``MeshClient``; ADR 0005), the connection limits and the shared TLS context, and the
two pools that stand in for httpcore2's under them: :class:`UpstreamPool` (awaiting) and
:class:`SyncUpstreamPool` (blocking, thread-safe). Both keep their books in ``ledger.PoolLedger``;
they differ only in how they open and close connections and wait for a free one. HTTP/1.1 only (the
mesh never asks providers for HTTP/2), no HTTP proxies (the mesh's transports never used any).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
import threading
import time
from collections import deque
from types import TracebackType
from typing import Any, TypeVar

import httpcore2
import httpx2

from modelmesh.upstream.ledger import Connection, Key, PoolLedger
from modelmesh.upstream.sockets import UpstreamBackend

# The SDK's own defaults: a mesh must never queue where the plain SDK would not.
DEFAULT_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)
_Transport = TypeVar("_Transport", httpx2.HTTPTransport, httpx2.AsyncHTTPTransport)


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every provider connection in the process: loading the CA bundle costs ~20 ms."""
    return httpx2.create_ssl_context()


def upstream_transport(
    verify: ssl.SSLContext | None = None, limits: httpx2.Limits | None = None
) -> httpx2.AsyncHTTPTransport:
    """The transport ``AsyncMeshTransport`` would build itself (same limits and TLS), on this pool.

    ``verify``: the TLS context (default: the mesh's shared one, the system's certificate authorities);
    ``limits``: connections open and kept idle (default: the mesh's).
    """
    return _on_pool(httpx2.AsyncHTTPTransport, UpstreamPool, verify, limits)


def sync_upstream_transport(
    verify: ssl.SSLContext | None = None, limits: httpx2.Limits | None = None
) -> httpx2.HTTPTransport:
    """``upstream_transport`` for ``MeshTransport``: httpx2's blocking transport, on the blocking pool."""
    return _on_pool(httpx2.HTTPTransport, SyncUpstreamPool, verify, limits)


def _on_pool(
    transport_class: type[_Transport],
    pool_class: type[PoolLedger],
    verify: ssl.SSLContext | None,
    limits: httpx2.Limits | None,
) -> _Transport:
    context, limits = verify or shared_ssl_context(), limits or DEFAULT_LIMITS
    transport = transport_class(retries=0, verify=context, limits=limits)
    # httpx2 takes no pool of one's own: it is swapped in before the transport sends anything.
    transport._pool = pool_class(  # type: ignore[assignment]
        context,
        max_connections=limits.max_connections,
        max_idle=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
    )
    return transport


def _connection_classes() -> tuple[Any, Any]:
    """httptools' parser when installed (several times cheaper), else httpcore2's h11 connections."""
    try:
        from modelmesh.upstream.connections import AsyncHttp1Connection, SyncHttp1Connection
    except ImportError:
        return httpcore2.AsyncHTTP11Connection, httpcore2.HTTP11Connection
    return AsyncHttp1Connection, SyncHttp1Connection


_ASYNC_CONNECTION, _SYNC_CONNECTION = _connection_classes()


def _tls_name(origin: Any, request: httpcore2.Request) -> str | None:
    """The server name TLS verifies for ``origin`` (None over plain http)."""
    if origin.scheme != b"https":
        return None
    return request.extensions.get("sni_hostname") or origin.host.decode("ascii")


class UpstreamPool(PoolLedger):
    """What httpx2's async transport needs of httpcore2's pool: ``handle_async_request`` and ``aclose``."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        backend: httpcore2.AsyncNetworkBackend | None = None,
        **limits: Any,
    ) -> None:
        super().__init__(ssl_context, **limits)
        self.backend = backend or UpstreamBackend()
        self.waiting: deque[asyncio.Future[None]] = deque()  # requests waiting for a connection slot

    async def handle_async_request(self, request: httpcore2.Request) -> httpcore2.Response:
        key = self.key(request)
        connection = await self._connection(key, request)
        try:
            response = await connection.handle_async_request(request)
        except BaseException:
            await self._release(connection, key)
            raise
        return _ReleasingStream.around(response, self, connection, key)

    async def _connection(self, key: Key, request: httpcore2.Request) -> Connection:
        timeouts = request.extensions.get("timeout", {})
        deadline = None
        while True:
            connection, may_open, to_close = self.checkout(key)
            if connection is not None:
                return connection
            if may_open:
                return await self._open(request, timeouts.get("connect"))
            await self._close(to_close)
            if not to_close:  # every connection is busy: wait for one to be closed or go idle
                if deadline is None and timeouts.get("pool") is not None:
                    deadline = asyncio.get_running_loop().time() + timeouts["pool"]
                await self._wait(deadline)

    async def _open(self, request: httpcore2.Request, timeout: float | None) -> Connection:
        """A new connection for a slot the request holds; the slot is freed if it cannot be opened."""
        origin = request.url.origin
        try:
            stream = await self.backend.connect_tcp(origin.host.decode("ascii"), origin.port, timeout=timeout)
            if (name := _tls_name(origin, request)) is not None:
                try:
                    stream = await stream.start_tls(self.ssl_context, server_hostname=name, timeout=timeout)
                except BaseException:
                    await stream.aclose()
                    raise
        except BaseException:
            self.not_opened()
            self._wake()
            raise
        connection = _ASYNC_CONNECTION(origin=origin, stream=stream, keepalive_expiry=self.keepalive_expiry)
        self.opened(connection)
        return connection

    async def _wait(self, deadline: float | None) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():  # woken, yet leaving: the next waiter is woken
                self._wake()
            if isinstance(exc, TimeoutError):
                raise httpcore2.PoolTimeout("No connection to the provider became free in time.") from None
            raise
        finally:
            with contextlib.suppress(ValueError):
                self.waiting.remove(waiter)

    async def _release(self, connection: Connection, key: Key) -> None:
        to_close = self.release(connection, key)
        self._wake()
        await self._close(to_close)

    async def _close(self, connections: list[Connection]) -> None:
        for connection in connections:
            await connection.aclose()

    def _wake(self) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        to_close = self.close_all()
        for waiter in self.waiting:
            if not waiter.done():
                waiter.set_result(None)
        await self._close(to_close)

    async def __aenter__(self) -> UpstreamPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()


class SyncUpstreamPool(PoolLedger):
    """What httpx2's sync transport needs of httpcore2's pool: ``handle_request`` and ``close``.

    Thread-safe: one ``MeshClient`` may serve many threads. The books are kept under one lock, which
    is also held while a stale connection is closed (closing a socket does not block).
    """

    def __init__(
        self, ssl_context: ssl.SSLContext, *, backend: httpcore2.NetworkBackend | None = None, **limits: Any
    ) -> None:
        super().__init__(ssl_context, **limits)
        self.backend = backend or httpcore2.SyncBackend()
        self.lock = threading.Lock()
        self.freed = threading.Condition(self.lock)  # a connection was closed or went idle

    def handle_request(self, request: httpcore2.Request) -> httpcore2.Response:
        key = self.key(request)
        connection = self._connection(key, request)
        try:
            response = connection.handle_request(request)
        except BaseException:
            self._release(connection, key)
            raise
        return _ReleasingStream.around(response, self, connection, key)

    def _connection(self, key: Key, request: httpcore2.Request) -> Connection:
        timeouts = request.extensions.get("timeout", {})
        pool_timeout = timeouts.get("pool")
        deadline = None if pool_timeout is None else time.monotonic() + pool_timeout
        with self.lock:
            while True:
                connection, may_open, to_close = self.checkout(key)
                if connection is not None:
                    return connection
                if may_open:
                    break
                self._close(to_close)
                if not to_close:  # every connection is busy: wait for one to be closed or go idle
                    self._wait(deadline)
        return self._open(request, timeouts.get("connect"))

    def _open(self, request: httpcore2.Request, timeout: float | None) -> Connection:
        """A new connection for a slot the request holds; the slot is freed if it cannot be opened."""
        origin = request.url.origin
        try:
            stream = self.backend.connect_tcp(origin.host.decode("ascii"), origin.port, timeout=timeout)
            if (name := _tls_name(origin, request)) is not None:
                try:
                    stream = stream.start_tls(self.ssl_context, server_hostname=name, timeout=timeout)
                except BaseException:
                    stream.close()
                    raise
        except BaseException:
            with self.lock:
                self.not_opened()
                self.freed.notify()
            raise
        connection = _SYNC_CONNECTION(origin=origin, stream=stream, keepalive_expiry=self.keepalive_expiry)
        with self.lock:
            self.opened(connection)
        return connection

    def _wait(self, deadline: float | None) -> None:
        """Waits (holding the lock between) until woken, or raises at ``deadline``.

        Leaving without the wake-up, it wakes another waiter: ``Condition`` drops a notify that lands
        as a timed wait expires (or is interrupted), and the next waiter would sleep beside a free slot.
        """
        try:
            if deadline is None:
                self.freed.wait()
                return
            remaining = deadline - time.monotonic()
            if remaining > 0 and self.freed.wait(remaining):
                return
        except BaseException:
            self.freed.notify()
            raise
        self.freed.notify()
        raise httpcore2.PoolTimeout("No connection to the provider became free in time.")

    def _release(self, connection: Connection, key: Key) -> None:
        with self.lock:
            to_close = self.release(connection, key)
            self.freed.notify()
        self._close(to_close)

    def _close(self, connections: list[Connection]) -> None:
        for connection in connections:
            connection.close()

    def close(self) -> None:
        with self.lock:
            to_close = self.close_all()
            self.freed.notify_all()
        self._close(to_close)

    def __enter__(self) -> SyncUpstreamPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        self.close()


class _ReleasingStream:
    """A response body that hands its connection back to its pool when closed (sync or async)."""

    def __init__(self, stream: Any, pool: Any, connection: Connection, key: Key) -> None:
        self.stream, self.pool, self.connection, self.key = stream, pool, connection, key
        self.closed = False

    @classmethod
    def around(
        cls, response: httpcore2.Response, pool: Any, connection: Connection, key: Key
    ) -> httpcore2.Response:
        response.stream = cls(response.stream, pool, connection, key)  # not a second Response (~2 µs)
        return response

    def __iter__(self) -> Any:
        return iter(self.stream)

    def __aiter__(self) -> Any:
        return self.stream.__aiter__()

    def _closing(self) -> bool:
        """True the first time only: a body is closed once."""
        was_closed, self.closed = self.closed, True
        return not was_closed

    def close(self) -> None:
        if self._closing():
            try:
                self.stream.close()
            finally:
                self.pool._release(self.connection, self.key)

    async def aclose(self) -> None:
        if self._closing():
            try:
                await self.stream.aclose()
            finally:
                await self.pool._release(self.connection, self.key)
