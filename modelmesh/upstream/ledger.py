"""A connection pool's bookkeeping, without I/O and without waiting (ADR 0005).

Owns which connections a pool holds: a stack of idle connections per origin (a request takes the most
recently used one, checking only that one: O(1) whatever the pool holds), the count of open connections
against ``max_connections`` (connections still connecting included), how many may stay idle, and which
connections to let go (stale, evicted, beyond the idle limit, expired). Why O(1): httpcore2's pool
re-examines every connection it holds when a request starts and ends, a quarter of a proxy worker's CPU
at concurrency 64 (ADR 0004). It deliberately opens, closes and waits for nothing: the pools in
``upstream.pool`` do, blocking or awaiting, with the connections this hands them to close.
"""

from __future__ import annotations

import ssl
from typing import Any, NamedTuple

import httpcore2

Key = tuple[bytes, bytes, int]  # an origin's scheme, host and port
Connection = Any  # connections.*Http1Connection, or httpcore2's HTTP/1.1 connections without httptools


class Checkout(NamedTuple):
    """What a request gets from the pool: an idle connection, a slot for a new one, or neither (wait)."""

    connection: Connection | None  # an idle connection to reuse
    may_open: bool  # a slot for a new connection was taken for the request
    to_close: list[Connection]  # connections let go, to close before asking again


class PoolLedger:
    """The limits and the connections of one pool, sync or async."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        max_connections: int | None = None,
        max_idle: int | None = None,
        keepalive_expiry: float | None = None,
    ) -> None:
        self.ssl_context = ssl_context
        self.ssl_context.set_alpn_protocols(["http/1.1"])  # as httpcore2 does when HTTP/2 is off
        self.max_connections = max_connections if max_connections is not None else 1 << 30
        self.max_idle = max_idle if max_idle is not None else self.max_connections
        self.keepalive_expiry = keepalive_expiry
        self.idle: dict[Key, list[Connection]] = {}  # most recent last
        self.idle_count = 0
        self.connections: set[Connection] = set()  # idle and busy
        self.connections_open = 0  # counted against max_connections, including those still connecting
        self.closed = False

    def key(self, request: httpcore2.Request) -> Key:
        """The origin ``request`` goes to; only http and https are spoken."""
        if request.url.scheme not in (b"http", b"https"):  # before .origin, which knows no other port
            scheme = request.url.scheme.decode("latin-1")
            raise httpcore2.UnsupportedProtocol(
                f"The mesh's client to providers speaks http and https, not {scheme!r}."
            )
        origin = request.url.origin
        return (origin.scheme, origin.host, origin.port)

    def checkout(self, key: Key) -> Checkout:
        """The most recently used idle connection to ``key``, else a slot for a new one, else neither.

        Connections let go on the way (stale, or evicted to make room) come alone: the caller closes
        them and asks again, so it never holds a connection or a slot while it closes them.
        """
        if self.closed:
            raise RuntimeError("The mesh's connection pool to providers is closed.")
        stack = self.idle.get(key)
        if stack:
            connection = stack.pop()
            self.idle_count -= 1
            if connection.is_available() and not connection.has_expired():
                return Checkout(connection, False, [])
            self.forget(connection)
            return Checkout(None, False, [connection])
        if self.connections_open < self.max_connections:
            self.connections_open += 1
            return Checkout(None, True, [])
        evicted = self._evict_idle()
        return Checkout(None, False, [] if evicted is None else [evicted])

    def _evict_idle(self) -> Connection | None:
        """One idle connection (to any origin, the oldest of its stack) let go to make room."""
        for stack in self.idle.values():
            if stack:
                self.idle_count -= 1
                connection = stack.pop(0)
                self.forget(connection)
                return connection
        return None

    def opened(self, connection: Connection) -> None:
        """The connection a slot was taken for is open (it is busy)."""
        self.connections.add(connection)

    def not_opened(self) -> None:
        """Opening the connection a slot was taken for failed: the slot is free again."""
        self.connections_open -= 1

    def release(self, connection: Connection, key: Key) -> list[Connection]:
        """An answer ended: its connection goes back on the idle stack; the connections to close."""
        if self.closed or not connection.is_idle() or self.idle_count >= self.max_idle:
            self.forget(connection)
            return [connection]
        stack = self.idle.setdefault(key, [])
        stack.append(connection)
        self.idle_count += 1
        if stack[0].has_expired():  # the oldest one: expired idle connections never pile up
            self.idle_count -= 1
            oldest = stack.pop(0)
            self.forget(oldest)
            return [oldest]
        return []

    def forget(self, connection: Connection) -> None:
        """The connection no longer counts (the caller closes it)."""
        if connection in self.connections:
            self.connections.discard(connection)
            self.connections_open -= 1

    def close_all(self) -> list[Connection]:
        """The pool closes: every connection, to be closed."""
        self.closed = True
        self.idle.clear()
        self.idle_count = 0
        connections = list(self.connections)
        for connection in connections:
            self.forget(connection)
        return connections
