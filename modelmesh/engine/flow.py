"""One request's I/O, written once: a generator that yields commands (``engine.commands``) and is run
by the sync and the async driver alike.

``request_flow`` asks the pure ``RoutingRun`` for steps and carries out each attempt: build the
provider request, send it, read what decides it (a whole body, or a stream up to its first content),
and answer. Everything an attempt raises before the caller has an answer goes through the failure
boundary (``engine.boundary``) and becomes ``run.failed``: nothing skips failover. After a streamed
answer's head is out, ``_relay`` forwards events; a break either resumes on another model (the pool's
``on_interrupt: continue``) or raises ``StreamInterruptedError``.

Deadlines are wall clock: a read's result counts as progress only when it carried content, so
keep-alive comments, empty deltas and trickled bodies cannot hold a caller past ``stall_s`` or the
request's deadline. What this module does not do: decide (``routing.run``), translate (connectors),
or touch a socket (the drivers).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx2

from modelmesh.connectors.base import ConnectorError, Failure, FailureKind, UnsupportedRequest
from modelmesh.engine.boundary import failure_of
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
from modelmesh.engine.exchange import (
    StreamInterruptedError,
    answer_headers,
    checked_answer,
    exhausted_response,
    provider_request,
    rate_limit_headers,
    whole_answer,
)
from modelmesh.engine.relay import RelayCore, Segment, stitches, unfinished
from modelmesh.engine.streaming import StreamMonitor
from modelmesh.routing.run import Attempt, Exhausted, RoutingRun, Wait
from modelmesh.types import Endpoint

if TYPE_CHECKING:
    from modelmesh.dialects.base import ClientDialect

Sub = Generator[Command, Any, Any]


@dataclass(slots=True)
class _Whole:
    upstream: httpx2.Response
    content: bytes  # the caller's body, checked and translated
    usage: dict[str, Any] | None


@dataclass(slots=True)
class _Binary:
    upstream: httpx2.Response


def request_flow(run: RoutingRun, request: httpx2.Request) -> Flow:
    """Route ``run`` to an answer; ``request`` is the SDK's, for the exceptions it must raise."""
    while True:
        step = yield from _decide(run, run.next_step)
        if isinstance(step, Wait):
            yield Sleep(step.seconds)
            continue
        if isinstance(step, Exhausted):
            yield Respond(exhausted_response(step, run, request))
            return
        started = yield from _start(run, step)
        if started is None:
            continue
        yield from _decide(run, run.succeeded, step, rate_limit_headers(started.upstream))
        if isinstance(started, _Whole):
            answer = whole_answer(run, step, started.upstream, started.content)
            yield from _decide(run, run.env.request_finished, run, step, started.content, started.usage)
            yield Respond(answer)
        elif isinstance(started, _Binary):
            yield RespondStream(started.upstream.status_code, answer_headers(run, step, started.upstream))
            yield from _relay_binary(run, step, started.upstream)
        else:
            yield RespondStream(started.upstream.status_code, answer_headers(run, step, started.upstream))
            if run.request.dialect is None:
                yield from _relay(run, started)
            else:
                yield from _in_dialect(_relay(run, started), run.request.dialect)
        return


def _start(run: RoutingRun, attempt: Attempt) -> Sub:
    """Send one attempt and read what decides it; None when it failed (already reported to the run)."""
    upstream: httpx2.Response | None = None
    try:
        attempt.outbound = attempt.connector.build_request(run.request, attempt.model, attempt.provider)
        upstream = yield Send(provider_request(attempt))
        if upstream.status_code >= 400:
            body = yield from _read_body(run, attempt, upstream)
            raise ConnectorError(attempt.connector.classify(upstream.status_code, upstream.headers, body))
        if run.request.endpoint is Endpoint.SPEECH:
            return _Binary(upstream)  # audio is relayed as it is made: no whole-body check
        if not run.requirements.streaming:
            body = yield from _read_body(run, attempt, upstream)
            return _Whole(upstream, *checked_answer(run, attempt, upstream, body))
        return (yield from _open_stream(run, attempt, upstream))
    except UnsupportedRequest as exc:
        run.unsupported(attempt, str(exc))
    except Exception as exc:  # the failure boundary: see engine.boundary
        if upstream is not None:
            yield Close(upstream)
        yield from _decide(run, run.failed, attempt, failure_of(exc))
    return None


def _read_body(run: RoutingRun, attempt: Attempt, upstream: httpx2.Response) -> Sub:
    """The whole body, within the attempt's deadline however slowly it trickles."""
    parts: list[bytes] = []
    while True:
        left = attempt.deadline - run.env.clock()
        if left <= 0:
            raise _timeout("the request's deadline passed while the provider's body was still arriving")
        # The request's read timeout bounds each read; only a nearer deadline needs the driver's help.
        chunk = yield Read(upstream, left if left < attempt.read_s else None)
        if chunk is None:
            return b"".join(parts)
        parts.append(chunk)


def _open_stream(run: RoutingRun, attempt: Attempt, upstream: httpx2.Response) -> Sub:
    """Read a stream until its first content (within the first-token timeout): the opened segment."""
    translator = attempt.connector.stream_translator(run.request, attempt.model)
    monitor = StreamMonitor(translator, run.wants_usage, keep_payloads=stitches(run))
    first_by = min(attempt.started_at + attempt.first_token_s, attempt.deadline)
    prefix: list[bytes] = []
    while not (monitor.has_content or monitor.complete or monitor.error):
        left = first_by - run.env.clock()
        if left <= 0:
            raise _timeout("no content before the first-token timeout", silent=monitor.progress == 0)
        chunk = yield Read(upstream, left)
        if chunk is None:
            break
        prefix.append(monitor.feed(chunk))
    if monitor.error is not None:
        raise ConnectorError(monitor.error)
    if not (monitor.has_content or monitor.finished):
        raise ConnectorError(Failure(FailureKind.STREAM_BROKEN, "the stream ended before any content"))
    return Segment(attempt, upstream, monitor, b"".join(prefix))


def _relay(run: RoutingRun, segment: Segment) -> Flow:
    """Forward an opened stream to the caller; on a break, resume or raise ``StreamInterruptedError``."""
    core = RelayCore(run, segment)
    try:
        yield Emit(core.out(segment.prefix))
        while True:
            failure = yield from _pump(run, core)
            if failure is None:
                break
            yield Close(core.segment.upstream)
            yield from _decide(run, core.interrupted, failure)  # raises unless the pool resumes the answer
            core.resumed(*(yield from _resume(run)))
            yield Emit(core.out(core.segment.prefix))
        yield Emit(core.tail())
        yield from _decide(run, core.finish)
    finally:
        core.finish()  # once only: a no-op after the Decide above; the caller left early otherwise


def _in_dialect(relay: Flow, dialect: ClientDialect) -> Flow:
    """``relay`` with each emitted chat chunk translated into the caller's dialect; a break after content
    ends in the dialect's error event (unless its SDK is openai's: it raises ``StreamInterruptedError``)."""
    stream = dialect.stream()
    value: Any = None
    error: BaseException | None = None
    while True:
        try:
            command = relay.throw(error) if error is not None else relay.send(value)
        except StopIteration:
            return
        except StreamInterruptedError as exc:
            if dialect.raises_on_interrupt:
                raise
            yield Emit(stream.error_event(exc.message))
            return
        value, error = None, None
        if isinstance(command, Emit):
            command = Emit(stream.feed(command.data))
        elif isinstance(command, Read) and command.emit:
            command = Read(command.upstream, command.timeout_s, stream.feed(command.emit))
        try:
            value = yield command
        except GeneratorExit:
            relay.close()
            raise
        except Exception as exc:  # a driver's failure: the relay's own boundary classifies it
            error = exc


def _pump(run: RoutingRun, core: RelayCore) -> Sub:
    """Emit a segment's events until it completes; the failure that broke it, or None.

    Output rides on the next ``Read`` (the driver hands it out first): one resumption per chunk."""
    segment, clock = core.segment, run.env.clock
    monitor, stall_s, read_s = segment.monitor, segment.attempt.stall_s, segment.attempt.read_s
    deadline, stitched = segment.attempt.deadline, core.stitcher is not None
    now = last_progress = clock()
    pending, failure = b"", None
    while not monitor.complete:
        left = min(last_progress + stall_s, deadline) - now
        if left <= 0:
            failure = None if monitor.finished else _stalled(segment.attempt, now - last_progress)
            break
        try:
            # The socket's read timeout bounds a read; a timer is armed only for a nearer limit.
            chunk = yield Read(segment.upstream, left if left < read_s else None, pending)
        except Exception as exc:  # the failure boundary, after content reached the caller
            # After the finish only usage or [DONE] was missing: not worth an error.
            return None if monitor.finished else failure_of(exc, before_content=False)
        pending = b""  # handed out before the read, however it went
        if chunk is None:
            failure = unfinished(monitor)
            break
        before = monitor.progress
        try:
            out = monitor.feed(chunk)
        except Exception as exc:  # a translator bug or an answer nobody foresaw
            return None if monitor.finished else failure_of(exc, before_content=False)
        if monitor.error is not None:
            return monitor.error
        now = clock()
        if monitor.progress != before:
            last_progress = now
        if out:
            pending = core.out(out) if stitched else out
    if pending:
        yield Emit(pending)
    return failure


def _resume(run: RoutingRun) -> Sub:
    """Drive the continuation steps to an opened segment: (segment, None), or (None, why) when exhausted."""
    while True:
        step = yield from _decide(run, run.next_step)
        if isinstance(step, Wait):
            yield Sleep(step.seconds)
        elif isinstance(step, Exhausted):
            return None, step.message
        else:
            started = yield from _start(run, step)
            if isinstance(started, Segment):
                yield from _decide(run, run.succeeded, step, rate_limit_headers(started.upstream))
                return started, None


def _relay_binary(run: RoutingRun, attempt: Attempt, upstream: httpx2.Response) -> Flow:
    """Generated audio, chunk by chunk; once bytes reach the caller there is no failover."""
    chunk: bytes | None = b""
    while chunk is not None:
        chunk = yield Read(upstream, None, chunk)
    yield from _decide(run, run.env.request_finished, run, attempt, b"")


def _decide(run: RoutingRun, fn: Callable[..., Any], *args: Any) -> Sub:
    """A routing call that may touch the state store. Yielded to the driver (the async one runs it off
    the event loop) only when the store does blocking I/O; with the in-process store it is a plain call,
    which spares every request a few round trips through the driver."""
    if run.env.store_blocks:
        return (yield Decide(fn, args))
    return fn(*args)


def _timeout(message: str, *, silent: bool = False) -> ConnectorError:
    return ConnectorError(Failure(FailureKind.TIMEOUT, message, suspects_endpoint=silent))


def _stalled(attempt: Attempt, silent_s: float) -> Failure:
    if silent_s < attempt.stall_s:
        return Failure(FailureKind.TIMEOUT, "the request's deadline passed while the stream was still going")
    message = f"no content for {silent_s:.1f}s (stall timeout {attempt.stall_s}s; keep-alives do not count)"
    return Failure(FailureKind.TIMEOUT, message)
