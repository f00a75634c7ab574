"""The vocabulary of a routing run: the steps it hands its driver, the records it keeps, and the
environment it needs from the mesh. Plain types only; the decisions live in ``modelmesh.routing.run``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from modelmesh.connectors.base import Connector, FailureKind, OutboundRequest
from modelmesh.quotas import QuotaBook
from modelmesh.state.base import StateStore
from modelmesh.types import ModelSpec, ProviderEndpoint

if TYPE_CHECKING:
    from modelmesh.engine.streaming import StreamMonitor
    from modelmesh.routing.run import RoutingRun


class Observer(Protocol):
    enabled: bool

    def emit(self, event: Mapping[str, Any]) -> None:
        """``event`` is a ``modelmesh.events.Event``: typed, and readable as a mapping."""
        ...


class RoutingEnv(Protocol):
    """What a run needs from the mesh around it."""

    store: StateStore
    providers: dict[str, ProviderEndpoint]
    observer: Observer
    clock: Callable[[], float]
    rng: random.Random
    quotas: QuotaBook
    store_blocks: bool  # the store does blocking I/O (SQLite, Redis): async drivers call it off the loop

    def connector_for(self, provider: str) -> Connector: ...

    def redact(self, data: bytes) -> bytes: ...

    def request_finished(
        self, run: RoutingRun, attempt: Attempt, body: bytes, usage: dict[str, Any] | None = None
    ) -> None:
        """A whole answer reached the caller."""
        ...

    def stream_finished(
        self, run: RoutingRun, attempt: Attempt, monitor: StreamMonitor, usage: dict[str, Any] | None = None
    ) -> None: ...

    def request_failed(self, run: RoutingRun, step: Exhausted) -> None: ...

    def request_cancelled(self, run: RoutingRun) -> None: ...


@dataclass(slots=True)
class Attempt:
    """One try of one model. Times are the run's clock; ``deadline`` is the request's, absolute."""

    number: int
    model: ModelSpec
    provider: ProviderEndpoint
    connector: Connector
    connect_s: float
    read_s: float
    first_token_s: float
    stall_s: float
    started_at: float
    deadline: float
    outbound: OutboundRequest | None = None  # built by the engine, inside its failure boundary


@dataclass(frozen=True, slots=True)
class Wait:
    seconds: float


@dataclass(frozen=True, slots=True)
class Exhausted:
    """The run is over without a success. ``status`` None means a transport-level failure (timeout etc.)."""

    kind: FailureKind | None
    message: str
    status: int | None
    headers: Mapping[str, str]
    body: bytes


@dataclass(slots=True)
class AttemptRecord:
    model: str
    provider: str
    outcome: str  # "ok" or a FailureKind value
    status: int | None
    latency_ms: float
    error: str | None = None  # the failure's message (redacted, shortened)

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "provider": self.provider,
            "outcome": self.outcome,
            "status": self.status,
            "latency_ms": round(self.latency_ms, 1),
            "error": self.error,
        }

    def line(self) -> str:
        """One readable line: ``groq/llama-3.1-8b-instant: HTTP 503 (server): overloaded``."""
        status = f"HTTP {self.status}" if self.status is not None else "no response"
        return f"{self.model.replace('.', '/', 1)}: {status} ({self.outcome}): {self.error or 'failed'}"
