"""The default in-process state store: dictionaries behind one lock.

Reads return the live records without copying (the hot path reads every request); writers hold the lock,
so counters are never lost between threads. Nothing survives the process: use SQLite or Redis for that.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TypeVar

from modelmesh.state.base import MAX_SESSIONS, ModelState, PoolState, ProviderState, SessionBinding, Snapshot

T = TypeVar("T")


class MemoryStateStore:
    """``modelmesh.memory.v1``."""

    def __init__(self, **_options: object) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, ModelState] = {}
        self._providers: dict[str, ProviderState] = {}
        self._pools: dict[str, PoolState] = {}
        self._sessions: OrderedDict[tuple[str, str], SessionBinding] = OrderedDict()

    def read_models(self, keys: Sequence[str]) -> dict[str, ModelState]:
        models = self._models
        return {key: models.get(key) or ModelState() for key in keys}

    def update_model(self, key: str, fn: Callable[[ModelState], T]) -> T:
        with self._lock:
            state = self._models.get(key)
            if state is None:
                state = self._models[key] = ModelState()
            return fn(state)

    def read_provider(self, name: str) -> ProviderState:
        return self._providers.get(name) or ProviderState()

    def update_provider(self, name: str, fn: Callable[[ProviderState], T]) -> T:
        with self._lock:
            state = self._providers.get(name)
            if state is None:
                state = self._providers[name] = ProviderState()
            return fn(state)

    def read_pool(self, name: str) -> PoolState:
        return self._pools.get(name) or PoolState()

    def update_pool(self, name: str, fn: Callable[[PoolState], T]) -> T:
        with self._lock:
            state = self._pools.get(name)
            if state is None:
                state = self._pools[name] = PoolState()
            return fn(state)

    def read_session(self, pool: str, session: str, now: float) -> SessionBinding | None:
        binding = self._sessions.get((pool, session))
        return binding if binding is not None and binding.expires > now else None

    def write_session(self, pool: str, session: str, binding: SessionBinding, now: float) -> None:
        with self._lock:
            self._sessions[(pool, session)] = binding
            self._sessions.move_to_end((pool, session))
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
            oldest = next(iter(self._sessions.items()), None)
            if oldest is not None and oldest[1].expires <= now:  # one expired binding out per write
                del self._sessions[oldest[0]]

    def snapshot(self, models: Sequence[str], providers: Sequence[str], pools: Sequence[str]) -> Snapshot:
        return Snapshot(
            self.read_models(models),
            {name: self.read_provider(name) for name in providers},
            {name: self.read_pool(name) for name in pools},
        )

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"MemoryStateStore({len(self._models)} models, {len(self._pools)} pools)"
