"""What the sync and async stream relays share once content has reached the caller.

A ``Segment`` is one provider stream that passed the first-token boundary. ``RelayCore`` holds the
decisions around it that involve no I/O: how output is rewritten (passed through, or stitched when the
pool resumes interrupted answers), what a break means (``interrupted``: resume, or raise
``StreamInterruptedError`` with the partial text), how the stream ends, and what gets billed. The
request flow (``modelmesh.engine.flow``) does the reading, sending and sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx2

from modelmesh.connectors.base import Failure, FailureKind
from modelmesh.engine.exchange import StreamInterruptedError, mid_stream_failure
from modelmesh.engine.streaming import DONE, StreamMonitor
from modelmesh.routing.continuation import Stitcher, can_continue
from modelmesh.routing.run import Attempt, RoutingRun


@dataclass(slots=True)
class Segment:
    """One opened provider stream: the attempt, the response and its monitor."""

    attempt: Attempt
    upstream: httpx2.Response
    monitor: StreamMonitor
    prefix: bytes  # what the first-token prefetch read, already checked by the monitor


def unfinished(monitor: StreamMonitor) -> Failure | None:
    """The failure of a stream that ended without its finish (None when it finished)."""
    if monitor.finished or monitor.done:
        return None
    return Failure(FailureKind.STREAM_BROKEN, mid_stream_failure(monitor))


def stitches(run: RoutingRun) -> bool:
    """The pool resumes interrupted answers, so its streams are stitched (one id, merged usage)."""
    return run.pool.config.streaming.on_interrupt == "continue"


class RelayCore:
    def __init__(self, run: RoutingRun, segment: Segment) -> None:
        self.run = run
        self.segment = segment
        self.stitcher = Stitcher(run.wants_usage) if stitches(run) else None
        self._original_body = run.request.body
        self._finished = False
        self._failure = Failure(FailureKind.STREAM_BROKEN, "the stream broke")

    def out(self, data: bytes) -> bytes:
        """What the caller gets for ``data``, the monitor's latest output (rewritten when stitching)."""
        if self.stitcher is None or not data:
            return data
        return self.stitcher.chunks(self.segment.monitor.take_payloads())

    def tail(self) -> bytes:
        """What ends the caller's stream: merged usage (when stitching) and ``[DONE]`` unless relayed."""
        if self.stitcher is not None:
            return self.stitcher.final_usage_event() + DONE
        return b"" if self.segment.monitor.done else DONE

    def delivered(self) -> str:
        return self.stitcher.text if self.stitcher is not None else self.segment.monitor.partial_text()

    def interrupted(self, failure: Failure) -> None:
        """Report a break; raises ``StreamInterruptedError`` unless the run will resume the answer."""
        segment, delivered = self.segment, self.delivered()
        resumable = self.stitcher is not None and can_continue(
            self._original_body, delivered, segment.monitor.has_tool_calls
        )
        self._failure = failure
        if not self.run.interrupted(segment.attempt, failure, delivered, resumable):
            raise StreamInterruptedError.build(self.run, delivered, failure.message)

    def resumed(self, segment: Segment | None, why: str | None) -> Segment:
        """The continuation's segment; raises the original interruption when none could be opened."""
        if segment is None:
            reason = f"{self._failure.message}; resuming it failed: {why or 'no model could continue'}"
            raise StreamInterruptedError.build(self.run, self.delivered(), reason)
        assert self.stitcher is not None
        self.stitcher.next_segment()
        self.segment = segment
        return segment

    def finish(self) -> None:
        """Report the end once: a complete answer is billed, an interrupted one only reported."""
        if self._finished:
            return
        self._finished = True
        usage = self.stitcher.usage or None if self.stitcher is not None else None
        self.run.env.stream_finished(self.run, self.segment.attempt, self.segment.monitor, usage)
