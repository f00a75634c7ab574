"""The vocabulary of a routing run: the steps it hands its driver, the records it keeps, what it reports
to observers and what it reads of a finished stream. Plain types only; the decisions, and the environment
a run needs from the mesh (``RoutingEnv``), live in ``modelmesh.routing.run``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from modelmesh.connectors.base import Connector, FailureKind, OutboundRequest
from modelmesh.types import ModelSpec, ProviderEndpoint


class StreamOutcome(Protocol):
    """What accounting reads of a finished stream (``engine.streaming.StreamMonitor`` provides it)."""

    finished: bool
    done: bool
    usage: dict[str, Any] | None

    def partial_text(self) -> str: ...


class Observer(Protocol):
    enabled: bool

    def emit(self, event: Mapping[str, Any]) -> None:
        """``event`` is a ``modelmesh.events.Event``: typed, and readable as a mapping."""
        ...


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
