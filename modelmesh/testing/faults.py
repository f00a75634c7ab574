"""Scripted faults for the fake providers, and the schedule that decides which request gets which.

A :class:`Fault` is a frozen value built by its classmethods (``Fault.status(429, retry_after=1)``,
``Fault.cut(after_events=3)``, ...). It says *what* goes wrong; the server (``modelmesh.testing.delivery``)
decides *how* that looks on the wire in each dialect. A :class:`FaultSchedule` holds the faults a
:class:`~modelmesh.testing.FakeProvider` has been told to inject and hands them out, thread-safely, one
request at a time.

Stream faults (``slow_first_token``, ``stall``, ``cut``, ``malformed``, ``no_done``) count *events*:
one SSE event (OpenAI chunk, Anthropic ``event:`` block) or one chunk of a streamed binary body. Applied
to a request that is not streamed, they degrade sensibly: delays delay the whole response, ``cut`` sends
half the body then drops the connection, ``malformed`` sends ``{not json`` as the body, ``no_done`` is a
normal response.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Literal

FaultKind = Literal[
    "status",
    "context_length",
    "content_policy",
    "latency",
    "slow_first_token",
    "stall",
    "cut",
    "malformed",
    "no_done",
    "reset",
    "rate_limit_headers",
]

ERROR_KINDS: frozenset[str] = frozenset({"status", "context_length", "content_policy"})
DELAY_KINDS: frozenset[str] = frozenset({"latency", "slow_first_token", "stall"})


@dataclass(frozen=True)
class Fault:
    """One thing that goes wrong with one request; build it with the classmethods, not directly."""

    kind: FaultKind
    status_code: int | None = None
    retry_after: float | None = None
    message: str | None = None
    error_type: str | None = None
    error_code: str | None = None
    seconds: float = 0.0
    after_events: int = 0
    limit_requests: int | None = None
    remaining_requests: int | None = None
    limit_tokens: int | None = None
    remaining_tokens: int | None = None

    @classmethod
    def status(
        cls,
        code: int,
        *,
        retry_after: float | None = None,
        message: str | None = None,
        error_type: str | None = None,
        error_code: str | None = None,
    ) -> Fault:
        """An error response with status ``code`` in the dialect's error shape (``Retry-After`` if given)."""
        if not 400 <= code <= 599:
            raise ValueError(f"Fault.status needs an error status (400-599), got {code}")
        return cls(
            "status",
            status_code=code,
            retry_after=retry_after,
            message=message,
            error_type=error_type,
            error_code=error_code,
        )

    @classmethod
    def context_length(cls) -> Fault:
        """400: the prompt is longer than the model's context (OpenAI code ``context_length_exceeded``)."""
        return cls("context_length", status_code=400)

    @classmethod
    def content_policy(cls) -> Fault:
        """400: the request was refused by the safety system (OpenAI code ``content_policy_violation``)."""
        return cls("content_policy", status_code=400)

    @classmethod
    def latency(cls, seconds: float) -> Fault:
        """Wait ``seconds`` before sending the response headers, then answer normally."""
        return cls("latency", seconds=_non_negative(seconds, "seconds"))

    @classmethod
    def slow_first_token(cls, seconds: float) -> Fault:
        """Stream: send the headers at once, the first event only after ``seconds``."""
        return cls("slow_first_token", seconds=_non_negative(seconds, "seconds"))

    @classmethod
    def stall(cls, after_events: int, seconds: float) -> Fault:
        """Stream: pause ``seconds`` after ``after_events`` events, then carry on normally."""
        return cls(
            "stall",
            after_events=_non_negative_int(after_events),
            seconds=_non_negative(seconds, "seconds"),
        )

    @classmethod
    def cut(cls, after_events: int) -> Fault:
        """Stream: drop the connection after ``after_events`` events (no finish reason, no ``[DONE]``)."""
        return cls("cut", after_events=_non_negative_int(after_events))

    @classmethod
    def malformed(cls, after_events: int) -> Fault:
        """Stream: emit a garbage event ``data: {not json`` after ``after_events`` events, then go on."""
        return cls("malformed", after_events=_non_negative_int(after_events))

    @classmethod
    def no_done(cls) -> Fault:
        """Stream: send the finishing event but never the terminator; hold the connection ~30 s."""
        return cls("no_done")

    @classmethod
    def reset(cls) -> Fault:
        """Close the TCP connection without sending any HTTP response."""
        return cls("reset")

    @classmethod
    def rate_limit_headers(
        cls,
        limit_requests: int,
        remaining_requests: int,
        limit_tokens: int | None = None,
        remaining_tokens: int | None = None,
    ) -> Fault:
        """A normal success carrying rate-limit headers (``x-ratelimit-*`` / ``anthropic-ratelimit-*``)."""
        return cls(
            "rate_limit_headers",
            limit_requests=limit_requests,
            remaining_requests=remaining_requests,
            limit_tokens=limit_tokens,
            remaining_tokens=remaining_tokens,
        )

    @property
    def is_error(self) -> bool:
        """True when the fault answers with an HTTP error status."""
        return self.kind in ERROR_KINDS


def _non_negative(value: float, name: str) -> float:
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return float(value)


def _non_negative_int(value: int) -> int:
    if value < 0:
        raise ValueError(f"after_events must be >= 0, got {value}")
    return int(value)


@dataclass
class _Pending:
    fault: Fault
    remaining: int
    model: str | None


class FaultSchedule:
    """The faults waiting for a provider's requests; safe to drive from any thread.

    Precedence for each request: an outage (not consumed), then the script (one entry consumed per
    model request, ``None`` meaning "behave normally"), then the first matching ``fail_next`` entry.
    Only the outage applies to requests without a model (``GET /v1/models``): discovery calls do not
    eat scripted faults meant for inference.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._outage: tuple[Fault, str | None] | None = None
        self._pending: list[_Pending] = []
        self._script: deque[Fault | None] = deque()

    def fail_next(self, n: int, fault: Fault, model: str | None = None) -> None:
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        if n:
            with self._lock:
                self._pending.append(_Pending(fault, n, model))

    def set_outage(self, fault: Fault, model: str | None = None) -> None:
        with self._lock:
            self._outage = (fault, model)

    def recover(self) -> None:
        with self._lock:
            self._outage = None

    def script(self, faults: list[Fault | None]) -> None:
        with self._lock:
            self._script.extend(faults)

    def clear(self) -> None:
        with self._lock:
            self._outage = None
            self._pending.clear()
            self._script.clear()

    def take(self, model: str | None) -> Fault | None:
        """The fault for one request for ``model`` (None: a request without a model)."""
        with self._lock:
            if self._outage is not None and self._outage[1] in (None, model):
                return self._outage[0]
            if model is None:
                return None
            if self._script:
                return self._script.popleft()
            for entry in self._pending:
                if entry.model in (None, model):
                    entry.remaining -= 1
                    if entry.remaining == 0:
                        self._pending.remove(entry)
                    return entry.fault
            return None
