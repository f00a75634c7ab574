"""``MeshEnvironment``: what a routing run works in — providers and their connectors, the state store, the
clock and RNG, observability, quotas, redaction — and where its outcomes are accounted, once.

It implements ``routing.run.RoutingEnv``. Accounting happens here and only here: a whole answer, a
stream's end (complete, or interrupted and not billed), a failure, a cancellation — each updates the usage
ledger and quota counters and emits one typed ``request`` event. Deliberately not here: turning SDK
requests into runs (``mesh.entry``) and what users call on ``client.mesh`` (``mesh.ModelMesh``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from modelmesh.connectors.base import Connector
from modelmesh.events import RequestEvent, StateEvent
from modelmesh.quotas import QuotaBook
from modelmesh.redaction import Redactor
from modelmesh.routing.run import Attempt, Exhausted, Observer, RoutingRun, StreamOutcome
from modelmesh.state.base import StateStore
from modelmesh.state.memory import MemoryStateStore
from modelmesh.types import ModelSpec, ProviderEndpoint
from modelmesh.usage import UsageLedger, billable_amounts


class MeshEnvironment:
    def __init__(
        self,
        *,
        providers: dict[str, ProviderEndpoint],
        connectors: dict[str, Connector],
        store: StateStore,
        observer: Observer,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        quotas: QuotaBook | None = None,
    ) -> None:
        self.providers = providers
        self.connectors = connectors
        self.store = store
        self.observer = observer
        self.clock = clock
        self.rng = rng or random.Random()
        self.usage = UsageLedger()
        self.quotas = quotas or QuotaBook()
        self.store_blocks = does_blocking_io(store)
        self.last_model: dict[str, str] = {}  # pool -> the model that answered last
        self._degraded = False
        self._redactor = Redactor.for_endpoints(providers.values())

    def connector_for(self, provider: str) -> Connector:
        return self.connectors[provider]

    def redact(self, data: bytes) -> bytes:
        return self._redactor.redact_bytes(data)

    def request_finished(
        self, run: RoutingRun, attempt: Attempt, body: bytes, usage: dict[str, Any] | None = None
    ) -> None:
        """A whole answer was handed over (``usage`` as read from it by the engine)."""
        self._finish(run, attempt.model, usage, "ok", len(body))

    def watch_store(self) -> None:
        """Tell observers once when the shared store degrades to local state, and once when it is back."""
        degraded = bool(getattr(self.store, "degraded", False))
        if degraded != self._degraded:
            self._degraded = degraded
            if self.observer.enabled:
                self.observer.emit(StateEvent(degraded=degraded, store=repr(self.store)))

    def stream_finished(
        self, run: RoutingRun, attempt: Attempt, monitor: StreamOutcome, usage: dict[str, Any] | None = None
    ) -> None:
        """A stream ended: complete (billed), or interrupted (reported, not billed: the answer is not whole).

        ``usage`` overrides the monitor's for a stream stitched from several segments."""
        usage = usage if usage is not None else monitor.usage
        if monitor.finished or monitor.done:
            self._finish(run, attempt.model, usage, "ok", len(monitor.partial_text()))
        elif self.observer.enabled:
            self.observer.emit(_request_event(run, "interrupted", attempt.model))

    def request_failed(self, run: RoutingRun, step: Exhausted) -> None:
        if self.observer.enabled:
            error = self.redact(step.message.encode()).decode()
            self.observer.emit(_request_event(run, "failed", None, error=error))

    def request_cancelled(self, run: RoutingRun) -> None:
        if self.observer.enabled:
            self.observer.emit(_request_event(run, "cancelled", run.answered_by))

    def _finish(
        self, run: RoutingRun, model: ModelSpec, usage: dict[str, Any] | None, outcome: str, chars: int = 0
    ) -> None:
        pool = run.pool.owner or run.pool.name  # a request naming a real model books under its pool
        self.last_model[pool] = model.key
        self.usage.record(pool, model, usage)
        if self.quotas:
            amounts = billable_amounts(model, usage, len(run.request.raw), chars)
            self.quotas.count(self.store, run.pool.name, model, amounts, self.clock())
        if self.observer.enabled:
            usage = usage or {}
            tokens = {
                "prompt_tokens": usage.get("prompt_tokens"),
                "completion_tokens": usage.get("completion_tokens"),
            }
            self.observer.emit(_request_event(run, outcome, model, **tokens))


def _request_event(run: RoutingRun, outcome: str, model: ModelSpec | None, **extra: Any) -> RequestEvent:
    return RequestEvent(
        pool=run.pool.name,
        model=model.id if model else None,
        provider=model.provider if model else None,
        outcome=outcome,
        attempts=len(run.records),
        failovers=run.failovers,
        request_id=run.request_id,
        endpoint=run.request.endpoint.value,
        started_at=run.started_at,
        **extra,
    )


def does_blocking_io(store: StateStore) -> bool:
    """Whether async callers must run the store's calls off the event loop: a store says so itself
    (``blocks_io``; the replica of a shared store never waits), else anything but the in-process
    store does I/O."""
    return bool(getattr(store, "blocks_io", not isinstance(store, MemoryStateStore)))
