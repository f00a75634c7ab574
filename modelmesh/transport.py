"""The routing transports under the OpenAI SDK: the only place where routing meets I/O.

``MeshTransport`` (sync) and ``AsyncMeshTransport`` are thin drivers of the same pure ``RoutingRun``:
each asks it for the next step, sends attempts over a real HTTP transport, reports outcomes back, and
hands the SDK an OpenAI-format response. Everything the two share lives in ``modelmesh.exchange``;
what is left here is the part that differs: blocking versus awaiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import httpx2

from modelmesh.connectors.base import Failure, FailureKind
from modelmesh.exchange import (
    AsyncBinaryRelay,
    BinaryRelay,
    StreamInterruptedError,
    exhausted_response,
    failure_from_exception,
    is_binary_stream,
    mid_stream_failure,
    provider_request,
    read_failure,
    routed_response,
)
from modelmesh.routing.run import Attempt, Exhausted, RoutingRun, Wait
from modelmesh.streaming import DONE, StreamMonitor

if TYPE_CHECKING:
    from modelmesh.mesh import ModelMesh


class MeshTransport(httpx2.BaseTransport):
    """Sync routing transport; give it to ``httpx2.Client(transport=...)`` under ``openai.OpenAI``."""

    def __init__(self, mesh: ModelMesh, http: httpx2.BaseTransport | None = None) -> None:
        self.mesh = mesh
        self._http = http or httpx2.HTTPTransport(retries=0)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        request.read()
        routed = self.mesh.begin(request)
        if isinstance(routed, httpx2.Response):
            return routed
        run = routed
        while True:
            step = run.next_step()
            if isinstance(step, Wait):
                time.sleep(step.seconds)
            elif isinstance(step, Exhausted):
                return exhausted_response(step, run, request)
            else:
                response = self._attempt(run, step, request)
                if response is not None:
                    return response

    def close(self) -> None:
        self._http.close()

    def _attempt(self, run: RoutingRun, attempt: Attempt, request: httpx2.Request) -> httpx2.Response | None:
        try:
            upstream = self._http.handle_request(provider_request(attempt))
        except httpx2.TransportError as exc:
            run.failed(attempt, failure_from_exception(exc))
            return None
        if upstream.status_code >= 400:
            body = b"".join(upstream.stream)
            upstream.close()
            run.failed(attempt, read_failure(attempt, upstream, body))
            return None
        if is_binary_stream(run):
            run.succeeded(attempt, upstream.headers)
            return routed_response(run, attempt, upstream, stream=BinaryRelay(run, attempt, upstream))
        if not run.requirements.streaming:
            try:
                body = b"".join(upstream.stream)
            except httpx2.TransportError as exc:
                run.failed(attempt, failure_from_exception(exc))
                return None
            finally:
                upstream.close()
            run.succeeded(attempt, upstream.headers)
            return routed_response(run, attempt, upstream, content=body)
        return self._stream(run, attempt, upstream)

    def _stream(self, run: RoutingRun, attempt: Attempt, upstream: httpx2.Response) -> httpx2.Response | None:
        monitor = StreamMonitor(
            attempt.connector.stream_translator(run.request, attempt.model), run.wants_usage
        )
        chunks = iter(upstream.stream)
        prefix: list[bytes] = []
        failure: Failure | None = None
        try:
            while not (monitor.has_content or monitor.complete or monitor.error):
                chunk = next(chunks, None)
                if chunk is None:
                    break
                prefix.append(monitor.feed(chunk))
                if run.env.clock() - attempt.started_at > attempt.first_token_s:
                    failure = Failure(FailureKind.TIMEOUT, "no content before the first-token timeout")
                    break
        except httpx2.TransportError as exc:
            failure = failure_from_exception(exc)
        failure = failure or monitor.error
        if failure is None and not (monitor.has_content or monitor.finished):
            failure = Failure(FailureKind.STREAM_BROKEN, "the stream ended before any content")
        if failure is not None:
            upstream.close()
            run.failed(attempt, failure)
            return None
        run.succeeded(attempt, upstream.headers)
        return routed_response(
            run, attempt, upstream, stream=_SyncRelay(run, attempt, upstream, chunks, monitor, prefix)
        )


class _SyncRelay(httpx2.SyncByteStream):
    """Relays the rest of a stream whose first content already reached the caller."""

    def __init__(
        self, run, attempt, upstream, chunks: Iterator[bytes], monitor: StreamMonitor, prefix
    ) -> None:  # type: ignore[no-untyped-def]
        self._run, self._attempt, self._upstream = run, attempt, upstream
        self._chunks, self._monitor, self._prefix = chunks, monitor, prefix

    def __iter__(self) -> Iterator[bytes]:
        monitor = self._monitor
        try:
            yield b"".join(self._prefix)
            while not monitor.complete:
                try:
                    chunk = next(self._chunks, None)
                except httpx2.TransportError as exc:
                    raise StreamInterruptedError.build(
                        self._run, monitor, str(exc) or type(exc).__name__
                    ) from None
                if chunk is None:
                    break
                out = monitor.feed(chunk)
                if monitor.error is not None:
                    raise StreamInterruptedError.build(self._run, monitor, monitor.error.message)
                if out:
                    yield out
            if not monitor.finished and not monitor.done:
                raise StreamInterruptedError.build(self._run, monitor, mid_stream_failure(monitor))
            if not monitor.done:
                yield DONE
        finally:
            self._upstream.close()
            self._run.env.stream_finished(self._run, self._attempt, monitor)

    def close(self) -> None:
        self._upstream.close()


class AsyncMeshTransport(httpx2.AsyncBaseTransport):
    """Async routing transport; give it to ``httpx2.AsyncClient(transport=...)`` under ``openai.AsyncOpenAI``."""

    def __init__(self, mesh: ModelMesh, http: httpx2.AsyncBaseTransport | None = None) -> None:
        self.mesh = mesh
        self._http = http or httpx2.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        await request.aread()
        routed = self.mesh.begin(request)
        if isinstance(routed, httpx2.Response):
            return routed
        run = routed
        while True:
            step = run.next_step()
            if isinstance(step, Wait):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Exhausted):
                return exhausted_response(step, run, request)
            else:
                response = await self._attempt(run, step, request)
                if response is not None:
                    return response

    async def _attempt(
        self, run: RoutingRun, attempt: Attempt, request: httpx2.Request
    ) -> httpx2.Response | None:
        try:
            upstream = await self._http.handle_async_request(provider_request(attempt))
        except httpx2.TransportError as exc:
            run.failed(attempt, failure_from_exception(exc))
            return None
        if upstream.status_code >= 400:
            body = b"".join([chunk async for chunk in upstream.stream])
            await upstream.aclose()
            run.failed(attempt, read_failure(attempt, upstream, body))
            return None
        if is_binary_stream(run):
            run.succeeded(attempt, upstream.headers)
            relay = AsyncBinaryRelay(run, attempt, upstream)
            return routed_response(run, attempt, upstream, stream=relay)
        if not run.requirements.streaming:
            try:
                body = b"".join([chunk async for chunk in upstream.stream])
            except httpx2.TransportError as exc:
                run.failed(attempt, failure_from_exception(exc))
                return None
            finally:
                await upstream.aclose()
            run.succeeded(attempt, upstream.headers)
            return routed_response(run, attempt, upstream, content=body)
        return await self._stream(run, attempt, upstream)

    async def _stream(
        self, run: RoutingRun, attempt: Attempt, upstream: httpx2.Response
    ) -> httpx2.Response | None:
        monitor = StreamMonitor(
            attempt.connector.stream_translator(run.request, attempt.model), run.wants_usage
        )
        chunks = upstream.stream.__aiter__()
        prefix: list[bytes] = []
        failure: Failure | None = None
        try:
            while not (monitor.has_content or monitor.complete or monitor.error):
                chunk = await anext(chunks, None)
                if chunk is None:
                    break
                prefix.append(monitor.feed(chunk))
                if run.env.clock() - attempt.started_at > attempt.first_token_s:
                    failure = Failure(FailureKind.TIMEOUT, "no content before the first-token timeout")
                    break
        except httpx2.TransportError as exc:
            failure = failure_from_exception(exc)
        failure = failure or monitor.error
        if failure is None and not (monitor.has_content or monitor.finished):
            failure = Failure(FailureKind.STREAM_BROKEN, "the stream ended before any content")
        if failure is not None:
            await upstream.aclose()
            run.failed(attempt, failure)
            return None
        run.succeeded(attempt, upstream.headers)
        relay = _AsyncRelay(run, attempt, upstream, chunks, monitor, prefix)
        return routed_response(run, attempt, upstream, stream=relay)

    async def aclose(self) -> None:
        await self._http.aclose()


class _AsyncRelay(httpx2.AsyncByteStream):
    def __init__(
        self, run, attempt, upstream, chunks: AsyncIterator[bytes], monitor: StreamMonitor, prefix
    ) -> None:  # type: ignore[no-untyped-def]
        self._run, self._attempt, self._upstream = run, attempt, upstream
        self._chunks, self._monitor, self._prefix = chunks, monitor, prefix

    async def __aiter__(self) -> AsyncIterator[bytes]:
        monitor = self._monitor
        try:
            yield b"".join(self._prefix)
            while not monitor.complete:
                try:
                    chunk = await anext(self._chunks, None)
                except httpx2.TransportError as exc:
                    raise StreamInterruptedError.build(
                        self._run, monitor, str(exc) or type(exc).__name__
                    ) from None
                if chunk is None:
                    break
                out = monitor.feed(chunk)
                if monitor.error is not None:
                    raise StreamInterruptedError.build(self._run, monitor, monitor.error.message)
                if out:
                    yield out
            if not monitor.finished and not monitor.done:
                raise StreamInterruptedError.build(self._run, monitor, mid_stream_failure(monitor))
            if not monitor.done:
                yield DONE
        finally:
            await self._upstream.aclose()
            self._run.env.stream_finished(self._run, self._attempt, monitor)

    async def aclose(self) -> None:
        await self._upstream.aclose()
