"""The two drivers of an HTTP/1.1 connection to a provider: blocking and awaiting (ADR 0005).

Owns moving bytes: each driver writes what ``http1.Http1Exchange`` serialised, reads what the server
sends into it, and closes the socket when the exchange says so or fails. The async driver reads and
writes an ``upstream.sockets`` stream (asyncio protocols), the sync one httpcore2's blocking socket
stream (``httpcore2.SyncBackend``: timeouts as socket timeouts, errors as httpcore2's exceptions).
Everything that knows HTTP is in ``http1``; the two differ only in blocking versus awaiting.
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import httpcore2

from modelmesh.upstream.http1 import CLOSED_HERE, READ_SIZE, Http1Connection, Http1Exchange


class AsyncHttp1Connection(Http1Connection):
    """What ``upstream.pool.UpstreamPool`` needs of a connection: ``handle_async_request``, ``aclose``."""

    stream: httpcore2.AsyncNetworkStream

    async def aclose(self) -> None:
        self.closing()
        await self.stream.aclose()

    async def read_into(self, exchange: Http1Exchange) -> None:
        """Reads what the server sent next into ``exchange``, within what is left of its wait."""
        try:
            data = await self.stream.read(READ_SIZE, exchange.wait())
        except httpcore2.ReadTimeout:
            raise exchange.late() from None
        self.received(exchange, data)

    async def handle_async_request(self, request: httpcore2.Request) -> httpcore2.Response:
        exchange = self.begin(request)
        try:
            try:
                async for chunk in request.stream:  # type: ignore[union-attr]
                    await self.stream.write(exchange.body(chunk), exchange.write_timeout)
                await self.stream.write(exchange.end(), exchange.write_timeout)
            except httpcore2.WriteError:
                exchange.cut_short = True  # it may have answered before it stopped reading (as httpcore2)
            while not exchange.head_ready():
                await self.read_into(exchange)
        except BaseException:
            await self.aclose()
            raise
        return exchange.response(_Body(self, exchange), self.stream)


class SyncHttp1Connection(Http1Connection):
    """What ``upstream.pool.SyncUpstreamPool`` needs of a connection: ``handle_request``, ``close``."""

    stream: httpcore2.NetworkStream

    def close(self) -> None:
        self.closing()
        with contextlib.suppress(OSError):  # wakes a thread blocked reading it: a close alone does not
            self.stream.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        self.stream.close()

    def read_into(self, exchange: Http1Exchange) -> None:
        """Reads what the server sent next into ``exchange``, within what is left of its wait; a read
        failing on a socket this pool closed meanwhile (another thread closed the client) says so."""
        try:
            data = self.stream.read(READ_SIZE, exchange.wait())
        except httpcore2.ReadTimeout:
            raise exchange.late() from None
        except httpcore2.ReadError:
            if self.is_closed():
                raise httpcore2.ReadError(CLOSED_HERE) from None
            raise
        self.received(exchange, data)

    def handle_request(self, request: httpcore2.Request) -> httpcore2.Response:
        exchange = self.begin(request)
        try:
            try:
                for chunk in request.stream:  # type: ignore[union-attr]
                    self.stream.write(exchange.body(chunk), exchange.write_timeout)
                self.stream.write(exchange.end(), exchange.write_timeout)
            except httpcore2.WriteError:
                exchange.cut_short = True  # it may have answered before it stopped reading (as httpcore2)
            while not exchange.head_ready():
                self.read_into(exchange)
        except BaseException:
            self.close()
            raise
        return exchange.response(_Body(self, exchange), self.stream)


class _Body:
    """An answer's body as it arrives (iterated by a sync connection's caller, awaited by an async one's);
    closing it before its end closes the connection."""

    def __init__(self, connection: Any, exchange: Http1Exchange) -> None:
        self.connection, self.exchange = connection, exchange

    def __iter__(self) -> _Body:
        return self

    def __aiter__(self) -> _Body:
        return self

    def __next__(self) -> bytes:
        exchange = self.exchange
        try:
            while (chunk := exchange.take()) is None:
                self.connection.read_into(exchange)
        except BaseException:
            self.connection.close()
            raise
        if chunk:
            return chunk
        self.close()
        raise StopIteration

    async def __anext__(self) -> bytes:
        exchange = self.exchange
        try:
            while (chunk := exchange.take()) is None:
                await self.connection.read_into(exchange)
        except BaseException:
            await self.connection.aclose()
            raise
        if chunk:
            return chunk
        await self.aclose()
        raise StopAsyncIteration

    def close(self) -> None:
        if self.connection.let_go(self.exchange):
            self.connection.close()

    async def aclose(self) -> None:
        if self.connection.let_go(self.exchange):
            await self.connection.aclose()
