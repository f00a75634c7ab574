"""What routing remembers between requests, and the store protocol that holds it.

A store gives atomic read-modify-write on three small records: a model's health, a provider's health and
a pool's cursor/current/session map. A store may also offer ``snapshot(models, providers, pools)``, the
records a routing decision starts from in one round trip (``read_snapshot`` falls back to single
reads). Memory, SQLite and Redis stores implement the same protocol; the routing core never knows which
one it has. Times are wall-clock seconds (``time.time``) so that
persisted cooldowns mean the same thing after a restart.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

T = TypeVar("T")

LATENCY_WINDOW = 20  # observations kept per model for latency-first


@dataclass(slots=True)
class ModelState:
    """Health and recent behaviour of one model (keyed ``provider.model-id``)."""

    consecutive_failures: int = 0
    standby_until: float | None = None  # None: active; inf: until manual recovery
    standby_reason: str | None = None
    not_before: float | None = None  # a short back-off (Retry-After) that is not a deactivation
    requests: int = 0
    failures: int = 0
    recent: list[bool] = field(default_factory=list)  # recent outcomes, True = success (error rate)
    latencies: list[float] = field(default_factory=list)  # recent seconds to first byte / full answer
    ratelimit_remaining_requests: int | None = None
    ratelimit_limit_requests: int | None = None
    ratelimit_remaining_tokens: int | None = None
    ratelimit_limit_tokens: int | None = None
    probe_until: float | None = None  # a half-open model's recovery probe is out until then (one at a time)
    standby_cause: str | None = None  # "failures" (panic mode may still use it), "status", or None
    quota: dict[str, list[list[float]]] = field(default_factory=dict)  # limit key -> [[bucket start, used]]

    def is_half_open(self, now: float) -> bool:
        """Back from a cooldown but not yet proven healthy: its next attempt is the recovery probe."""
        return self.standby_until is not None and now >= self.standby_until

    def is_active(self, now: float) -> bool:
        return self.standby_until is None or now >= self.standby_until

    def is_ready(self, now: float) -> bool:
        """Active and not inside a Retry-After back-off."""
        return self.is_active(now) and (self.not_before is None or now >= self.not_before)


@dataclass(slots=True)
class ProviderState:
    """A provider-wide deactivation (401/403 take every model of the provider out), and suspicion: after
    a timeout or a refused connection its endpoint is skipped until ``suspected_until``."""

    disabled_until: float | None = None
    reason: str | None = None
    suspected_until: float | None = None
    suspect_reason: str | None = None
    quota: dict[str, list[list[float]]] = field(default_factory=dict)  # provider-wide quota counters

    def is_active(self, now: float) -> bool:
        return self.disabled_until is None or now >= self.disabled_until

    def is_suspected(self, now: float) -> bool:
        return self.suspected_until is not None and now < self.suspected_until


@dataclass(slots=True)
class PoolState:
    """Per-pool selection memory: the stuck model and the round-robin cursor (sessions: their own records)."""

    current: str | None = None
    cursor: int = 0
    quota: dict[str, list[list[float]]] = field(default_factory=dict)  # the pool budget's counters


MAX_SESSIONS = 100_000  # session bindings one in-process store keeps; the oldest go first


@dataclass(frozen=True, slots=True)
class SessionBinding:
    """Which model a session is bound to, until when. Session ids are stored hashed (``session_key``)."""

    model: str
    expires: float


def session_key(raw: str) -> str:
    """A client-chosen session id as stored: fixed length, not reversible, whatever the client sent."""
    return hashlib.blake2b(raw.encode("utf-8", "replace"), digest_size=12).hexdigest()


@dataclass(slots=True)
class Snapshot:
    """The records one routing decision starts from, read together (one round trip where the store can)."""

    models: dict[str, ModelState]
    providers: dict[str, ProviderState]
    pools: dict[str, PoolState]


def read_snapshot(
    store: StateStore, models: Sequence[str], providers: Sequence[str], pools: Sequence[str]
) -> Snapshot:
    """``store.snapshot(...)`` when the store has it (one round trip), else one read per record."""
    snapshot = getattr(store, "snapshot", None)
    if snapshot is not None:
        return snapshot(models, providers, pools)
    return Snapshot(
        store.read_models(models) if models else {},
        {name: store.read_provider(name) for name in providers},
        {name: store.read_pool(name) for name in pools},
    )


def read_record(store: StateStore, kind: str, name: str) -> ModelState | ProviderState | PoolState:
    """The ``kind`` (model, provider or pool) record called ``name``."""
    if kind == "model":
        return store.read_models([name])[name]
    return store.read_provider(name) if kind == "provider" else store.read_pool(name)


def update_record(store: StateStore, kind: str, name: str, fn: Callable[[Any], T]) -> T:
    """``store.update_<kind>(name, fn)`` for a record named by its kind (model, provider or pool)."""
    if kind == "model":
        return store.update_model(name, fn)
    if kind == "provider":
        return store.update_provider(name, fn)
    return store.update_pool(name, fn)


class StateStore(Protocol):
    """Atomic access to routing state. ``update_*`` run ``fn`` on the record and persist it atomically."""

    def read_models(self, keys: Sequence[str]) -> dict[str, ModelState]: ...

    def update_model(self, key: str, fn: Callable[[ModelState], T]) -> T: ...

    def read_provider(self, name: str) -> ProviderState: ...

    def update_provider(self, name: str, fn: Callable[[ProviderState], T]) -> T: ...

    def read_pool(self, name: str) -> PoolState: ...

    def update_pool(self, name: str, fn: Callable[[PoolState], T]) -> T: ...

    def read_session(self, pool: str, session: str, now: float) -> SessionBinding | None:
        """The live binding of a (hashed) session id, or None (also when it expired)."""
        ...

    def write_session(self, pool: str, session: str, binding: SessionBinding, now: float) -> None:
        """Bind a session; one session's write never rewrites another's, and expired ones are dropped."""
        ...

    def close(self) -> None: ...
