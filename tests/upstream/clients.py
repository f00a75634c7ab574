"""The upstream clients under test, sync and async, driven from one async test body.

Every wire test runs a raw asyncio server and its client in the same process. The async clients run on
the test's event loop (asyncio or uvloop); the sync client's blocking calls run in worker threads, so the
loop keeps serving meanwhile. The tests then read the same for all three.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx2

from modelmesh.upstream.pool import sync_upstream_transport, upstream_transport

KINDS = ["asyncio", "uvloop", "sync"]


class SyncInThreads:
    """An ``httpx2.Client`` over the sync pool, used from the event loop: each call runs in a thread."""

    def __init__(self, transport: httpx2.HTTPTransport, **options: Any) -> None:
        self.client = httpx2.Client(transport=transport, **options)
        self._transport = transport  # as httpx2.AsyncClient names it

    async def post(self, *args: Any, **kwargs: Any) -> httpx2.Response:
        return await asyncio.to_thread(self.client.post, *args, **kwargs)

    async def head(self, *args: Any, **kwargs: Any) -> httpx2.Response:
        return await asyncio.to_thread(self.client.head, *args, **kwargs)

    @asynccontextmanager
    async def stream(self, method: str, url: str, **kwargs: Any) -> AsyncIterator[SyncReply]:
        opened = self.client.stream(method, url, **kwargs)
        reply = await asyncio.to_thread(opened.__enter__)
        try:
            yield SyncReply(reply)
        finally:
            await asyncio.to_thread(opened.__exit__, None, None, None)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.client.close)

    async def __aenter__(self) -> SyncInThreads:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class SyncReply:
    """A streamed sync reply, its body read chunk by chunk in a worker thread."""

    def __init__(self, reply: httpx2.Response) -> None:
        self.reply = reply

    async def aiter_raw(self) -> AsyncIterator[bytes]:
        chunks: Iterator[bytes] = self.reply.iter_raw()
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            yield chunk


class Clients:
    """Makes the clients of one kind, and the transports under them."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.is_sync = kind == "sync"

    def transport(self, verify: ssl.SSLContext | None = None, limits: httpx2.Limits | None = None) -> Any:
        if self.is_sync:
            return sync_upstream_transport(verify, limits)
        return upstream_transport(verify, limits)

    def open(
        self, verify: ssl.SSLContext | None = None, limits: httpx2.Limits | None = None, **options: Any
    ) -> Any:
        """An async-usable client (``await client.post(...)``) of this kind."""
        transport = self.transport(verify, limits)
        if self.is_sync:
            return SyncInThreads(transport, **options)
        return httpx2.AsyncClient(transport=transport, **options)

    def run(self, coroutine: Awaitable[Any]) -> Any:
        """Runs the test's body on uvloop for the uvloop kind, else on asyncio's loop."""
        factory: Callable[[], asyncio.AbstractEventLoop] | None = None
        if self.kind == "uvloop":
            import uvloop

            factory = uvloop.new_event_loop
        with asyncio.Runner(loop_factory=factory) as loop:
            return loop.run(coroutine)  # type: ignore[arg-type]
