"""The observability events the mesh emits, one typed class per kind.

Each event is a frozen dataclass built at one place in the code, and it reads as a mapping too
(``event["event"]``, ``event.get("pool")``, ``{**event}``) so every output renders it the same way:
the console as a line, the JSONL file as an object, ``logging`` as a record, OpenTelemetry as spans.
Field names are the mapping's keys, except ``from_`` which reads as ``from``. ``request_id`` ties the
events of one request together (the same id on its decision, attempts, failovers and outcome).

Deliberately not here: when to emit (``routing.run``, ``mesh``) and how to render (``observability``).
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

_RENAMED = {"from_": "from"}
_PROCESS = os.urandom(3).hex()
_NEXT = itertools.count(1)


def new_request_id() -> str:
    """A process-unique request id (a random process prefix and a counter: no syscall per request)."""
    return f"{_PROCESS}-{next(_NEXT)}"


@dataclass(frozen=True, kw_only=True)
class Event(Mapping[str, Any]):
    kind: ClassVar[str] = "event"

    def as_dict(self) -> dict[str, Any]:
        cached: dict[str, Any] | None = self.__dict__.get("_as_dict")
        if cached is None:
            cached = {"event": self.kind}
            for field in dataclasses.fields(self):
                cached[_RENAMED.get(field.name, field.name)] = getattr(self, field.name)
            object.__setattr__(self, "_as_dict", cached)
        return cached

    def __getitem__(self, key: str) -> Any:
        return self.as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(self.as_dict())


@dataclass(frozen=True, kw_only=True)
class DecisionEvent(Event):
    kind: ClassVar[str] = "decision"
    pool: str
    model: str
    request_id: str
    endpoint: str


@dataclass(frozen=True, kw_only=True)
class AttemptEvent(Event):
    kind: ClassVar[str] = "attempt"
    pool: str
    model: str
    provider: str
    attempt: int
    outcome: str  # "ok" or a FailureKind value
    status: int | None
    latency_ms: float
    request_id: str
    endpoint: str
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class FailoverEvent(Event):
    kind: ClassVar[str] = "failover"
    pool: str
    from_: str
    to: str
    reason: str | None
    request_id: str
    endpoint: str


@dataclass(frozen=True, kw_only=True)
class DeactivationEvent(Event):
    kind: ClassVar[str] = "deactivation"
    scope: str  # "model" or "provider"
    reason: str
    model: str | None = None
    provider: str | None = None


@dataclass(frozen=True, kw_only=True)
class SuspicionEvent(Event):
    kind: ClassVar[str] = "suspicion"
    provider: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class PanicEvent(Event):
    kind: ClassVar[str] = "panic"
    pool: str
    models: int


@dataclass(frozen=True, kw_only=True)
class ProbeEvent(Event):
    kind: ClassVar[str] = "probe"
    pool: str
    model: str


@dataclass(frozen=True, kw_only=True)
class ContinuationEvent(Event):
    kind: ClassVar[str] = "continuation"
    pool: str
    from_: str
    delivered_chars: int


@dataclass(frozen=True, kw_only=True)
class PrefillRejectedEvent(Event):
    kind: ClassVar[str] = "prefill_rejected"
    pool: str
    model: str


@dataclass(frozen=True, kw_only=True)
class RequestEvent(Event):
    """A request's outcome: ``ok``, ``interrupted`` (a stream broke after content) or ``failed``."""

    kind: ClassVar[str] = "request"
    pool: str
    model: str | None
    outcome: str
    attempts: int
    failovers: int
    request_id: str
    endpoint: str
    started_at: float
    provider: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class StateEvent(Event):
    kind: ClassVar[str] = "state"
    degraded: bool
    store: str


@dataclass(frozen=True, kw_only=True)
class RotationEvent(Event):
    kind: ClassVar[str] = "rotation"
    pool: str
    from_: str | None
    to: str | None
    reason: str
    rotated: bool
    note: str | None = None
