"""A pool at run time: its name, the capability it serves, its member models, settings and policy."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from modelmesh.routing.availability import availability
from modelmesh.state.base import ModelState, PoolState, ProviderState, StateStore
from modelmesh.types import ModelSpec, ProviderEndpoint

if TYPE_CHECKING:
    from modelmesh.config import PoolConfig


class SelectionPolicy(Protocol):
    """Orders the candidates of one request; the run tries them in that order."""

    #: True when ``order`` may be given the whole pool unfiltered: the run then checks health lazily,
    #: down the order, so a request costs the same whatever the pool's size. False: ``order`` gets only
    #: the usable candidates (a policy that needs every model's health, like round-robin or latency).
    lazy: bool

    def order(self, ctx: SelectionContext, candidates: list[ModelSpec]) -> list[ModelSpec]: ...

    def on_success(self, ctx: SelectionContext, model: ModelSpec) -> None: ...


@dataclass(slots=True)
class Pool:
    name: str
    capability: str  # full dotted capability ID
    models: list[ModelSpec]
    config: PoolConfig
    policy: SelectionPolicy
    last_choice: str | None = None  # the model that answered last: read with the pool's record up front
    owner: str | None = None  # for a one-model pool made for a request naming a real model: its pool
    keys: list[str] = field(init=False, repr=False)
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.keys = [model.key for model in self.models]
        self._index = {}
        for index, model in enumerate(self.models):
            self._index.setdefault(model.key, index)

    def index_of(self, key: str) -> int:
        return self._index.get(key, -1)


class ModelStates:
    """One request's view of model health: each record is read from the store when first needed, then
    kept, so a policy that looks at one model costs one read however large the pool."""

    __slots__ = ("_cache", "_store")

    def __init__(self, store: StateStore, known: dict[str, ModelState] | None = None) -> None:
        self._store = store
        self._cache: dict[str, ModelState] = known if known is not None else {}

    def get(self, key: str) -> ModelState:
        state = self._cache.get(key)
        if state is None:
            state = self._cache[key] = self._store.read_models([key])[key]
        return state

    def prefetch(self, keys: list[str]) -> None:
        """Read these records in one store call (for a policy that looks at every candidate)."""
        missing = [key for key in keys if key not in self._cache]
        if missing:
            self._cache.update(self._store.read_models(missing))


@dataclass(slots=True)
class SelectionContext:
    """What a policy may look at: health snapshots, the clock, the RNG and the pool's store."""

    pool: Pool
    store: StateStore
    states: ModelStates
    providers: dict[str, ProviderEndpoint]
    now: float
    rng: random.Random
    session_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    _provider_states: dict[str, ProviderState] = field(default_factory=dict)
    _pool_state: PoolState | None = None

    def pool_record(self) -> PoolState:
        """The pool's own record (current model, cursor, sessions), read once per context."""
        if self._pool_state is None:
            self._pool_state = self.store.read_pool(self.pool.name)
        return self._pool_state

    def provider_state(self, name: str) -> ProviderState:
        """The provider's record, read once per context however many of its models are looked at."""
        state = self._provider_states.get(name)
        if state is None:
            state = self._provider_states[name] = self.store.read_provider(name)
        return state

    def is_active(self, model: ModelSpec) -> bool:
        """Not deactivated (in standby, or its provider disabled); a short back-off does not count."""
        why = availability(model, self.states.get(model.key), self.provider_state(model.provider), self.now)
        return why is None or not why.is_deactivated
