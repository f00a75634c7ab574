"""The routing transports under the OpenAI SDK: the only place where routing meets I/O.

``MeshTransport`` (sync) and ``AsyncMeshTransport`` are thin drivers of the same pure ``RoutingRun``:
each asks it for the next step, sends attempts over a real HTTP transport, reports outcomes back, and
hands the SDK an OpenAI-format response. Everything the two share lives in ``modelmesh.exchange`` and
``modelmesh.relay``; what is left here is the part that differs: blocking versus awaiting.

A stream is prefetched until its first content (within the first-token timeout), so a stream that fails
before then fails over transparently. After that a relay forwards it; a break (cut, stall, reset, no
finish) either raises ``StreamInterruptedError`` or, when the pool says ``on_interrupt: continue``,
drives the run's continuation steps right here and stitches the resumed answer into the same stream.
"""

from __future__ import annotations

import asyncio
import functools
import json
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import httpx2

from modelmesh.connectors.base import Failure, FailureKind
from modelmesh.exchange import (
    AsyncBinaryRelay,
    BinaryRelay,
    async_stream,
    exhausted_response,
    failure_from_exception,
    is_binary_stream,
    provider_request,
    read_failure,
    routed_response,
    sync_stream,
)
from modelmesh.relay import RelayCore, Segment, unfinished
from modelmesh.routing.run import Attempt, Exhausted, RoutingRun, Wait
from modelmesh.streaming import StreamMonitor

if TYPE_CHECKING:
    from modelmesh.mesh import ModelMesh

_FIRST_TOKEN = "no content before the first-token timeout"


def _prefetch_failure(monitor: StreamMonitor, failure: Failure | None) -> Failure | None:
    failure = failure or monitor.error
    if failure is None and not (monitor.has_content or monitor.finished):
        failure = Failure(FailureKind.STREAM_BROKEN, "the stream ended before any content")
    return failure


def _checked_json(upstream: httpx2.Response, body: bytes) -> tuple[Failure | None, Any]:
    """A 2xx JSON answer that does not parse is the provider's failure, never the caller's answer.

    Returns the parsed payload too (None when not parsed), so usage is read without a second parse.
    """
    if not upstream.headers.get("content-type", "").startswith("application/json"):
        return None, None
    text = body.strip()
    # Parsing large bodies (embeddings) costs milliseconds: past 32 KB only the ends are checked.
    valid, payload = text[:1] + text[-1:] in (b"{}", b"[]"), None
    if valid and len(text) <= 32_768:
        try:
            payload = json.loads(text)
        except ValueError:
            valid = False
    if valid:
        return None, payload
    return Failure(FailureKind.STREAM_BROKEN, "the provider's response body is not valid JSON"), None


@functools.cache
def shared_ssl_context() -> ssl.SSLContext:
    """One TLS context for every provider connection in the process: loading the CA bundle costs ~20 ms."""
    return httpx2.create_ssl_context()


def _whole_answer(
    run: RoutingRun, attempt: Attempt, upstream: httpx2.Response, body: bytes
) -> httpx2.Response | None:
    """A fully read 2xx body: the caller's response, or None when it was malformed (reported)."""
    failure, payload = _checked_json(upstream, body)
    if failure is not None:
        run.failed(attempt, failure)
        return None
    run.succeeded(attempt, upstream.headers)
    return routed_response(run, attempt, upstream, content=body, payload=payload)


def _monitor(run: RoutingRun, attempt: Attempt) -> StreamMonitor:
    return StreamMonitor(attempt.connector.stream_translator(run.request, attempt.model), run.wants_usage)


class MeshTransport(httpx2.BaseTransport):
    """Sync routing transport; give it to ``httpx2.Client(transport=...)`` under ``openai.OpenAI``."""

    def __init__(self, mesh: ModelMesh, http: httpx2.BaseTransport | None = None) -> None:
        self.mesh = mesh
        self._http = http or httpx2.HTTPTransport(retries=0, verify=shared_ssl_context())

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
                response = self._attempt(run, step)
                if response is not None:
                    return response

    def close(self) -> None:
        self._http.close()

    def _send(self, run: RoutingRun, attempt: Attempt) -> httpx2.Response | None:
        """The provider's 2xx response, or None when the attempt failed (already reported)."""
        try:
            upstream = self._http.handle_request(provider_request(attempt))
        except httpx2.TransportError as exc:
            run.failed(attempt, failure_from_exception(exc))
            return None
        if upstream.status_code >= 400:
            body = b"".join(sync_stream(upstream))
            upstream.close()
            run.failed(attempt, read_failure(attempt, upstream, body))
            return None
        return upstream

    def _attempt(self, run: RoutingRun, attempt: Attempt) -> httpx2.Response | None:
        upstream = self._send(run, attempt)
        if upstream is None:
            return None
        if is_binary_stream(run):
            run.succeeded(attempt, upstream.headers)
            return routed_response(run, attempt, upstream, stream=BinaryRelay(run, attempt, upstream))
        if not run.requirements.streaming:
            try:
                body = b"".join(sync_stream(upstream))
            except httpx2.TransportError as exc:
                run.failed(attempt, failure_from_exception(exc))
                return None
            finally:
                upstream.close()
            return _whole_answer(run, attempt, upstream, body)
        segment = self._open(run, attempt, upstream)
        if segment is None:
            return None
        return routed_response(run, attempt, upstream, stream=_SyncRelay(self, RelayCore(run, segment)))

    def _open(self, run: RoutingRun, attempt: Attempt, upstream: httpx2.Response) -> Segment | None:
        """Read until the first content; the opened segment, or None when it failed (reported)."""
        monitor = _monitor(run, attempt)
        chunks = sync_stream(upstream)
        prefix: list[bytes] = []
        failure: Failure | None = None
        try:
            while not (monitor.has_content or monitor.complete or monitor.error):
                chunk = next(chunks, None)
                if chunk is None:
                    break
                prefix.append(monitor.feed(chunk))
                if run.env.clock() - attempt.started_at > attempt.first_token_s:
                    failure = Failure(FailureKind.TIMEOUT, _FIRST_TOKEN)
                    break
        except httpx2.TransportError as exc:
            failure = failure_from_exception(exc)
        failure = _prefetch_failure(monitor, failure)
        if failure is not None:
            upstream.close()
            run.failed(attempt, failure)
            return None
        run.succeeded(attempt, upstream.headers)
        return Segment(attempt, upstream, chunks, monitor, b"".join(prefix))

    def resume(self, run: RoutingRun) -> tuple[Segment | None, str | None]:
        """Drive a continuation to its opened segment; (None, why) when the run is exhausted."""
        while True:
            step = run.next_step()
            if isinstance(step, Wait):
                time.sleep(step.seconds)
            elif isinstance(step, Exhausted):
                return None, step.message
            else:
                upstream = self._send(run, step)
                segment = self._open(run, step, upstream) if upstream is not None else None
                if segment is not None:
                    return segment, None


class _SyncRelay(httpx2.SyncByteStream):
    """Relays the rest of a stream whose first content already reached the caller."""

    def __init__(self, transport: MeshTransport, core: RelayCore) -> None:
        self._transport, self._core = transport, core

    def __iter__(self) -> Iterator[bytes]:
        core = self._core
        try:
            yield core.out(core.segment.prefix)
            while True:
                segment, failure = core.segment, None
                monitor = segment.monitor
                while not monitor.complete:
                    try:
                        chunk = next(segment.chunks, None)
                    except httpx2.TransportError as exc:
                        # After the finish only usage or [DONE] was missing: not worth an error.
                        failure = None if monitor.finished else failure_from_exception(exc)
                        break
                    if chunk is None:
                        break
                    out = monitor.feed(chunk)
                    if monitor.error is not None:
                        failure = monitor.error
                        break
                    if out:
                        yield core.out(out)
                failure = failure or unfinished(monitor)
                if failure is None:
                    break
                segment.upstream.close()
                core.interrupted(failure)
                core.resumed(*self._transport.resume(core.run))
                yield core.out(core.segment.prefix)
            yield core.tail()
        finally:
            core.segment.upstream.close()
            core.finish()

    def close(self) -> None:
        self._core.segment.upstream.close()


class AsyncMeshTransport(httpx2.AsyncBaseTransport):
    """Async routing transport for ``httpx2.AsyncClient(transport=...)`` under ``openai.AsyncOpenAI``."""

    def __init__(self, mesh: ModelMesh, http: httpx2.AsyncBaseTransport | None = None) -> None:
        self.mesh = mesh
        self._http = http or httpx2.AsyncHTTPTransport(retries=0, verify=shared_ssl_context())

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
                response = await self._attempt(run, step)
                if response is not None:
                    return response

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, run: RoutingRun, attempt: Attempt) -> httpx2.Response | None:
        try:
            upstream = await self._http.handle_async_request(provider_request(attempt))
        except httpx2.TransportError as exc:
            run.failed(attempt, failure_from_exception(exc))
            return None
        if upstream.status_code >= 400:
            body = b"".join([chunk async for chunk in async_stream(upstream)])
            await upstream.aclose()
            run.failed(attempt, read_failure(attempt, upstream, body))
            return None
        return upstream

    async def _attempt(self, run: RoutingRun, attempt: Attempt) -> httpx2.Response | None:
        upstream = await self._send(run, attempt)
        if upstream is None:
            return None
        if is_binary_stream(run):
            run.succeeded(attempt, upstream.headers)
            relay = AsyncBinaryRelay(run, attempt, upstream)
            return routed_response(run, attempt, upstream, stream=relay)
        if not run.requirements.streaming:
            try:
                body = b"".join([chunk async for chunk in async_stream(upstream)])
            except httpx2.TransportError as exc:
                run.failed(attempt, failure_from_exception(exc))
                return None
            finally:
                await upstream.aclose()
            return _whole_answer(run, attempt, upstream, body)
        segment = await self._open(run, attempt, upstream)
        if segment is None:
            return None
        return routed_response(run, attempt, upstream, stream=_AsyncRelay(self, RelayCore(run, segment)))

    async def _open(self, run: RoutingRun, attempt: Attempt, upstream: httpx2.Response) -> Segment | None:
        monitor = _monitor(run, attempt)
        chunks = async_stream(upstream)
        prefix: list[bytes] = []
        failure: Failure | None = None
        try:
            while not (monitor.has_content or monitor.complete or monitor.error):
                chunk = await anext(chunks, None)
                if chunk is None:
                    break
                prefix.append(monitor.feed(chunk))
                if run.env.clock() - attempt.started_at > attempt.first_token_s:
                    failure = Failure(FailureKind.TIMEOUT, _FIRST_TOKEN)
                    break
        except httpx2.TransportError as exc:
            failure = failure_from_exception(exc)
        failure = _prefetch_failure(monitor, failure)
        if failure is not None:
            await upstream.aclose()
            run.failed(attempt, failure)
            return None
        run.succeeded(attempt, upstream.headers)
        return Segment(attempt, upstream, chunks, monitor, b"".join(prefix))

    async def resume(self, run: RoutingRun) -> tuple[Segment | None, str | None]:
        while True:
            step = run.next_step()
            if isinstance(step, Wait):
                await asyncio.sleep(step.seconds)
            elif isinstance(step, Exhausted):
                return None, step.message
            else:
                upstream = await self._send(run, step)
                segment = await self._open(run, step, upstream) if upstream is not None else None
                if segment is not None:
                    return segment, None


class _AsyncRelay(httpx2.AsyncByteStream):
    def __init__(self, transport: AsyncMeshTransport, core: RelayCore) -> None:
        self._transport, self._core = transport, core

    async def __aiter__(self) -> AsyncIterator[bytes]:
        core = self._core
        try:
            yield core.out(core.segment.prefix)
            while True:
                segment, failure = core.segment, None
                monitor = segment.monitor
                while not monitor.complete:
                    try:
                        chunk = await anext(segment.chunks, None)
                    except httpx2.TransportError as exc:
                        failure = None if monitor.finished else failure_from_exception(exc)
                        break
                    if chunk is None:
                        break
                    out = monitor.feed(chunk)
                    if monitor.error is not None:
                        failure = monitor.error
                        break
                    if out:
                        yield core.out(out)
                failure = failure or unfinished(monitor)
                if failure is None:
                    break
                await segment.upstream.aclose()
                core.interrupted(failure)
                core.resumed(*await self._transport.resume(core.run))
                yield core.out(core.segment.prefix)
            yield core.tail()
        finally:
            await core.segment.upstream.aclose()
            core.finish()

    async def aclose(self) -> None:
        await self._core.segment.upstream.aclose()
