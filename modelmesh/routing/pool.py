"""A pool at run time: its name, the capability it serves, its member models, settings and policy."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from modelmesh.state.base import ModelState, ProviderState, StateStore
from modelmesh.types import ModelSpec, ProviderEndpoint

if TYPE_CHECKING:
    from modelmesh.config import PoolConfig


class SelectionPolicy(Protocol):
    """Orders the candidates of one request; the run tries them in that order."""

    def order(self, ctx: SelectionContext, candidates: list[ModelSpec]) -> list[ModelSpec]: ...

    def on_success(self, ctx: SelectionContext, model: ModelSpec) -> None: ...


@dataclass(slots=True)
class Pool:
    name: str
    capability: str  # full dotted capability ID
    models: list[ModelSpec]
    config: PoolConfig
    policy: SelectionPolicy

    def index_of(self, key: str) -> int:
        for index, model in enumerate(self.models):
            if model.key == key:
                return index
        return -1


@dataclass(slots=True)
class SelectionContext:
    """What a policy may look at: health snapshots, the clock, the RNG and the pool's store."""

    pool: Pool
    store: StateStore
    states: dict[str, ModelState]
    providers: dict[str, ProviderEndpoint]
    now: float
    rng: random.Random
    session_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)
    _provider_states: dict[str, ProviderState] = field(default_factory=dict)

    def provider_state(self, name: str) -> ProviderState:
        """The provider's record, read once per context however many of its models are looked at."""
        state = self._provider_states.get(name)
        if state is None:
            state = self._provider_states[name] = self.store.read_provider(name)
        return state

    def is_active(self, model: ModelSpec) -> bool:
        """Healthy by its own record and its provider's (request suitability aside)."""
        state = self.states.get(model.key)
        if state is not None and not state.is_active(self.now):
            return False
        return self.provider_state(model.provider).is_active(self.now)
