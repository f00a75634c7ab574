"""The async HTTP client to providers: httpx2's transport over a connection pool with O(1) bookkeeping.

Owns :func:`upstream_transport` (what ``AsyncMeshTransport`` sends through, in the proxy and in
``AsyncMeshClient`` alike; ADR 0004), the connection limits and the shared TLS context, and
:class:`UpstreamPool`, which stands in for httpcore2's pool under it. Why: httpcore2's pool re-examines
every connection it holds each time a request starts or ends (closed? expired? idle? reserved?), so at
concurrency 64 each request paid for ~64 connections twice, a quarter of a worker's CPU. This pool
keeps a stack of idle connections per origin: a request takes the most recently used one (checking
only that one), a finished answer puts it back. HTTP/1.1 only (the proxy never asks providers for
HTTP/2), no HTTP proxies (the mesh's transports never used any).
It deliberately keeps httpcore2's HTTP/1.1 connections, so the wire handling is httpcore2's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ssl
from collections import deque
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import httpcore2
import httpx2

from modelmesh.upstream.sockets import UpstreamBackend

Origin = Any  # httpcore2's Origin: not exported by httpcore2, and not hashable
Key = tuple[bytes, bytes, int]  # an origin's scheme, host and port
Connection = Any  # http1.Http1Connection, or httpcore2's AsyncHTTP11Connection without httptools


# The SDK's own defaults: a mesh must never queue where the plain SDK would not.
DEFAULT_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


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
    context, limits = verify or shared_ssl_context(), limits or DEFAULT_LIMITS
    transport = httpx2.AsyncHTTPTransport(retries=0, verify=context, limits=limits)
    # httpx2 takes no pool of one's own: it is swapped in before the transport sends anything.
    transport._pool = UpstreamPool(  # type: ignore[assignment]
        context,
        max_connections=limits.max_connections,
        max_idle=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
    )
    return transport


def _connection_class() -> Any:
    """httptools' parser when installed (several times cheaper), else httpcore2's h11 connection."""
    try:
        from modelmesh.upstream.http1 import Http1Connection
    except ImportError:
        return httpcore2.AsyncHTTP11Connection
    return Http1Connection


_CONNECTION = _connection_class()


class UpstreamPool:
    """What httpx2's transport needs of httpcore2's pool: ``handle_async_request`` and ``aclose``."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        max_connections: int | None = None,
        max_idle: int | None = None,
        keepalive_expiry: float | None = None,
        backend: httpcore2.AsyncNetworkBackend | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self.ssl_context.set_alpn_protocols(["http/1.1"])  # as httpcore2 does when HTTP/2 is off
        self.max_connections = max_connections if max_connections is not None else 1 << 30
        self.max_idle = max_idle if max_idle is not None else self.max_connections
        self.keepalive_expiry = keepalive_expiry
        self.backend = backend or UpstreamBackend()
        self.idle: dict[Key, list[Connection]] = {}  # most recent last
        self.idle_count = 0
        self.connections: set[Connection] = set()  # idle and busy
        self.connections_open = 0  # counted against max_connections, including those still connecting
        self.waiting: deque[asyncio.Future[None]] = deque()  # requests waiting for a connection slot
        self.closed = False

    async def handle_async_request(self, request: httpcore2.Request) -> httpcore2.Response:
        if request.url.scheme not in (b"http", b"https"):
            scheme = request.url.scheme.decode("latin-1")
            raise httpcore2.UnsupportedProtocol(
                f"The proxy's upstream client speaks http and https, not {scheme!r}."
            )
        origin = request.url.origin
        key = (origin.scheme, origin.host, origin.port)
        connection = await self._connection(origin, key, request)
        try:
            response = await connection.handle_async_request(request)
        except BaseException:
            await self._release(connection, key)
            raise
        stream = _ReleasingStream(response.stream, self, connection, key)
        return httpcore2.Response(
            status=response.status, headers=response.headers, content=stream, extensions=response.extensions
        )

    async def _connection(self, origin: Origin, key: Key, request: httpcore2.Request) -> Connection:
        """An idle connection to ``origin``, else a new one once fewer than ``max_connections`` are open."""
        timeouts = request.extensions.get("timeout", {})
        deadline = None
        while True:
            connection = await self._idle_connection(key)
            if connection is not None:
                return connection
            if self.connections_open < self.max_connections or await self._evict_idle():
                return await self._new_connection(origin, request, timeouts.get("connect"))
            if deadline is None and timeouts.get("pool") is not None:
                deadline = asyncio.get_running_loop().time() + timeouts["pool"]
            await self._wait(deadline)  # a connection was closed or went idle: look again

    async def _idle_connection(self, key: Key) -> Connection | None:
        """The most recently used idle connection to ``key`` still usable; stale ones are closed."""
        stack = self.idle.get(key)
        while stack:
            connection = stack.pop()
            self.idle_count -= 1
            if connection.is_available() and not connection.has_expired():
                return connection
            await self._forget(connection)
        return None

    async def _new_connection(
        self, origin: Origin, request: httpcore2.Request, timeout: float | None
    ) -> Connection:
        if self.closed:
            raise RuntimeError("The proxy's upstream connection pool is closed.")
        self.connections_open += 1
        try:
            stream = await self._connect(origin, request, timeout)
        except BaseException:
            self.connections_open -= 1
            self._wake()
            raise
        connection = _CONNECTION(origin=origin, stream=stream, keepalive_expiry=self.keepalive_expiry)
        self.connections.add(connection)
        return connection

    async def _wait(self, deadline: float | None) -> None:
        waiter = asyncio.get_running_loop().create_future()
        self.waiting.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                await waiter
        except TimeoutError:
            raise httpcore2.PoolTimeout("No upstream connection became free in time.") from None
        finally:
            with contextlib.suppress(ValueError):
                self.waiting.remove(waiter)

    async def _evict_idle(self) -> bool:
        """Closes one idle connection (to any origin) to make room; False when none is idle."""
        for stack in self.idle.values():
            if stack:
                self.idle_count -= 1
                await self._forget(stack.pop(0))
                return True
        return False

    async def _connect(self, origin: Origin, request: httpcore2.Request, timeout: float | None) -> Any:
        host = origin.host.decode("ascii")
        stream = await self.backend.connect_tcp(host, origin.port, timeout=timeout)
        if origin.scheme == b"https":
            sni = request.extensions.get("sni_hostname") or host
            try:
                stream = await stream.start_tls(self.ssl_context, server_hostname=sni, timeout=timeout)
            except BaseException:
                await stream.aclose()
                raise
        return stream

    async def _release(self, connection: Connection, key: Key) -> None:
        """An answer ended: its connection goes back on the idle stack, or is closed."""
        if self.closed or not connection.is_idle() or self.idle_count >= self.max_idle:
            await self._forget(connection)
            return
        stack = self.idle.setdefault(key, [])
        stack.append(connection)
        self.idle_count += 1
        if stack[0].has_expired():  # the oldest one: expired idle connections never pile up
            self.idle_count -= 1
            await self._forget(stack.pop(0))
        self._wake()

    async def _forget(self, connection: Connection) -> None:
        if connection in self.connections:
            self.connections.discard(connection)
            self.connections_open -= 1
            self._wake()
        await connection.aclose()

    def _wake(self) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    async def aclose(self) -> None:
        self.closed = True
        self.idle.clear()
        self.idle_count = 0
        for connection in list(self.connections):
            await self._forget(connection)

    async def __aenter__(self) -> UpstreamPool:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc_value: BaseException | None = None,
        traceback: TracebackType | None = None,
    ) -> None:
        await self.aclose()


class _ReleasingStream:
    """A response body that hands its connection back to the pool when closed."""

    def __init__(
        self,
        stream: Any,
        pool: UpstreamPool,
        connection: Connection,
        key: Key,
    ) -> None:
        self.stream, self.pool, self.connection, self.key = stream, pool, connection, key
        self.closed = False

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self.stream.__aiter__()

    async def aclose(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            await self.stream.aclose()
        finally:
            await self.pool._release(self.connection, self.key)
