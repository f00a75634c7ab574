"""The two drivers of the request flow: ``MeshTransport`` (blocking) and ``AsyncMeshTransport`` (awaiting).

Each is an httpx2 transport under the OpenAI SDK. It asks the mesh for a run, then carries out the
flow's commands until the flow hands out the caller's response; a streamed response's body keeps
driving the same flow. Whatever a command raises is thrown back into the flow (which classifies it);
every provider response a driver opened is closed when the flow ends, however it ends. The two classes
differ only in blocking versus awaiting, in that an async read can be cut off at its deadline, and in
that the async driver runs routing calls (``Decide``) in a worker thread when the state store does
blocking I/O, so a slow SQLite file or Redis server never stalls the event loop (ADR 0002). Both send
through ``modelmesh.upstream``'s pools, the async one (ADR 0004) and the blocking one (ADR 0005).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import httpx2

from modelmesh.engine.commands import (
    Close,
    Command,
    Decide,
    Emit,
    Flow,
    Read,
    Respond,
    RespondStream,
    Send,
    Sleep,
)
from modelmesh.engine.flow import request_flow
from modelmesh.upstream.pool import sync_upstream_transport, upstream_transport

if TYPE_CHECKING:
    from modelmesh.mesh import ModelMesh

# What the flow hands out rather than asks for (a tuple: isinstance with one is the fastest check).
_OUTPUT = (Respond, RespondStream, Emit)
Outcome = tuple[Any, BaseException | None]  # a command's result, or what it raised


class _Driver:
    """What both drivers keep per request: the flow and the provider responses it opened."""

    def __init__(self, flow: Flow) -> None:
        self.flow = flow
        self.opened: list[httpx2.Response] = []
        self.bodies: dict[int, Any] = {}  # id(response) -> its body iterator

    def step(self, value: Any = None, error: BaseException | None = None) -> Any:
        """The flow's next command, given the last one's outcome; None when the flow has finished."""
        try:
            return self.flow.throw(error) if error is not None else self.flow.send(value)
        except StopIteration:
            return None

    def response(self, command: Respond | RespondStream, stream: Any) -> httpx2.Response:
        if isinstance(command, Respond):
            return command.response
        return httpx2.Response(command.status, headers=command.headers, stream=stream)


def _hands_out(command: Command) -> bool:
    """The flow hands something to the caller: a response, body bytes, or bytes riding on a read."""
    return bool(command.emit) if type(command) is Read else isinstance(command, _OUTPUT)


class MeshTransport(httpx2.BaseTransport):
    """Sync routing transport; give it to ``httpx2.Client(transport=...)`` under ``openai.OpenAI``."""

    def __init__(self, mesh: ModelMesh, http: httpx2.BaseTransport | None = None) -> None:
        self.mesh = mesh
        self._http = http or sync_upstream_transport()  # httpx2 over the blocking pool (ADR 0005)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        routed = self.mesh.begin(request)
        if isinstance(routed, httpx2.Response):
            return routed
        driver = _Driver(request_flow(routed, request))
        try:
            command = self._until_output(driver)
        except BaseException:
            self._finish(driver)
            raise
        if isinstance(command, RespondStream):
            return driver.response(command, _SyncBody(self, driver))
        self._finish(driver)
        return driver.response(command, None)

    def _until_output(self, driver: _Driver, value: Any = None, error: BaseException | None = None) -> Any:
        """Carry out commands until the flow hands something out or ends (None)."""
        command = driver.step(value, error)
        while command is not None and not _hands_out(command):
            command = driver.step(*self._outcome(driver, command))
        return command

    def _outcome(self, driver: _Driver, command: Command) -> Outcome:
        """Carry out one command: (its result, None), or (None, what it raised) for the flow to handle."""
        try:
            if isinstance(command, Read):  # the most frequent: one per streamed chunk
                body = driver.bodies.get(id(command.upstream))
                if body is None:
                    stream = cast(httpx2.SyncByteStream, command.upstream.stream)
                    body = driver.bodies[id(command.upstream)] = iter(stream)
                return next(body, None), None
            if isinstance(command, Decide):
                return command.fn(*command.args), None
            if isinstance(command, Send):
                upstream = self._http.handle_request(command.request)
                driver.opened.append(upstream)
                return upstream, None
            if isinstance(command, Sleep):
                time.sleep(command.seconds)
            elif isinstance(command, Close):
                command.upstream.close()
            return None, None
        except Exception as exc:
            return None, exc

    def _finish(self, driver: _Driver) -> None:
        driver.flow.close()
        for upstream in driver.opened:
            upstream.close()

    def close(self) -> None:
        self._http.close()


class _SyncBody(httpx2.SyncByteStream):
    def __init__(self, transport: MeshTransport, driver: _Driver) -> None:
        self._transport, self._driver = transport, driver

    def __iter__(self) -> Iterator[bytes]:
        transport, driver = self._transport, self._driver
        try:
            command = transport._until_output(driver)
            while command is not None:
                if isinstance(command, Read):  # bytes ready before a read: hand them out, then read
                    yield command.emit
                    command = transport._until_output(driver, *transport._outcome(driver, command))
                    continue
                if isinstance(command, Emit) and command.data:
                    yield command.data
                command = transport._until_output(driver)
        finally:
            transport._finish(driver)

    def close(self) -> None:
        self._transport._finish(self._driver)


class AsyncMeshTransport(httpx2.AsyncBaseTransport):
    """Async routing transport for ``httpx2.AsyncClient(transport=...)`` under ``openai.AsyncOpenAI``."""

    def __init__(self, mesh: ModelMesh, http: httpx2.AsyncBaseTransport | None = None) -> None:
        self.mesh = mesh
        self._http = http or upstream_transport()  # httpx2 over an O(1) pool (ADR 0004)

    async def _decide(self, fn: Callable[..., Any], *args: Any) -> Any:
        """A routing call; off the event loop when the state store does blocking I/O (SQLite, Redis)."""
        if self.mesh.store_blocks:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        routed = (
            await self._decide(self.mesh.begin, request)
            if self.mesh.store_blocks
            else self.mesh.begin(request)
        )
        if isinstance(routed, httpx2.Response):
            return routed
        driver = _Driver(request_flow(routed, request))
        try:
            command = await self._until_output(driver)
        except asyncio.CancelledError:  # the caller left (a proxy client hung up) or its task was cancelled
            await self._finish(driver)
            with contextlib.suppress(Exception):
                await self._decide(routed.cancelled)
            raise
        except BaseException:
            await self._finish(driver)
            raise
        if isinstance(command, RespondStream):
            return driver.response(command, _AsyncBody(self, driver))
        await self._finish(driver)
        return driver.response(command, None)

    async def _until_output(
        self, driver: _Driver, value: Any = None, error: BaseException | None = None
    ) -> Any:
        command = driver.step(value, error)
        while command is not None and not _hands_out(command):
            command = driver.step(*(await self._outcome(driver, command)))
        return command

    async def _outcome(self, driver: _Driver, command: Command) -> Outcome:
        try:
            if isinstance(command, Read):  # the most frequent: one per streamed chunk
                body = driver.bodies.get(id(command.upstream))
                if body is None:
                    stream = cast(httpx2.AsyncByteStream, command.upstream.stream)
                    body = driver.bodies[id(command.upstream)] = stream.__aiter__()
                if command.timeout_s is None:  # the socket's read timeout is the bound: no timer to arm
                    return await anext(body, None), None
                async with asyncio.timeout(max(command.timeout_s, 0.0)):
                    return await anext(body, None), None
            if isinstance(command, Decide):
                return await self._decide(command.fn, *command.args), None
            if isinstance(command, Send):
                upstream = await self._http.handle_async_request(command.request)
                driver.opened.append(upstream)
                return upstream, None
            if isinstance(command, Sleep):
                await asyncio.sleep(command.seconds)
            elif isinstance(command, Close):
                await command.upstream.aclose()
            return None, None
        except Exception as exc:
            return None, exc

    async def _finish(self, driver: _Driver) -> None:
        driver.flow.close()
        for upstream in driver.opened:
            await upstream.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()


class _AsyncBody(httpx2.AsyncByteStream):
    def __init__(self, transport: AsyncMeshTransport, driver: _Driver) -> None:
        self._transport, self._driver = transport, driver

    async def __aiter__(self) -> AsyncIterator[bytes]:
        transport, driver = self._transport, self._driver
        try:
            command = await transport._until_output(driver)
            while command is not None:
                if isinstance(command, Read):  # bytes ready before a read: hand them out, then read
                    yield command.emit
                    outcome = await transport._outcome(driver, command)
                    command = await transport._until_output(driver, *outcome)
                    continue
                if isinstance(command, Emit) and command.data:
                    yield command.data
                command = await transport._until_output(driver)
        finally:
            await transport._finish(driver)

    async def aclose(self) -> None:
        await self._transport._finish(self._driver)
