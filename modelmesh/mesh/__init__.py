"""``ModelMesh``: the running router behind a client, as users see it on ``client.mesh``.

It holds the pools and composes the two objects that do the work: ``MeshEntry`` (``mesh.entry``), where
each SDK request enters, and ``MeshEnvironment`` (``mesh.environment``), what routing runs work in and
where their outcomes are accounted. What it adds is the user-facing extras: ``pool_status()``,
``active_providers()``, ``rotate()``, ``list_pools()``. Building one from configuration is
``modelmesh.builder``'s job.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

from modelmesh.connectors.base import Connector
from modelmesh.errors import UnknownNameError
from modelmesh.events import RotationEvent
from modelmesh.mesh.entry import MeshEntry
from modelmesh.mesh.environment import MeshEnvironment, does_blocking_io
from modelmesh.quotas import QuotaBook
from modelmesh.routing.availability import Unavailable, availability
from modelmesh.routing.pool import Pool
from modelmesh.routing.run import Observer, RoutingRun
from modelmesh.state.base import PoolState, StateStore, read_snapshot
from modelmesh.state.replica import may_block
from modelmesh.types import ModelSpec, ProviderEndpoint
from modelmesh.usage import UsageLedger

__all__ = ["MeshEntry", "MeshEnvironment", "ModelMesh", "ModelStatus", "PoolStatus"]


@dataclass(frozen=True, slots=True)
class ModelStatus:
    model: str  # dotted key
    provider: str
    active: bool
    reason: str | None = None
    back_in_s: float | None = None  # None: active, or manual recovery


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """``client.pool_status()[name]``: health of one pool."""

    name: str
    active: int
    standby: int
    total: int
    current_model: str | None
    strategy: str
    models: list[ModelStatus] = field(default_factory=list)
    state_degraded: bool = False  # the shared store (Redis) is unreachable: routing runs on local state


class ModelMesh:
    def __init__(
        self,
        *,
        pools: dict[str, Pool],
        providers: dict[str, ProviderEndpoint],
        connectors: dict[str, Connector],
        store: StateStore,
        observer: Observer,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        strategies: dict[str, str] | None = None,
        quotas: QuotaBook | None = None,
    ) -> None:
        self.pools = pools
        self.env = MeshEnvironment(
            providers=providers,
            connectors=connectors,
            store=store,
            observer=observer,
            clock=clock,
            rng=rng,
            quotas=quotas,
        )
        self.entry = MeshEntry(pools, self.env)
        self._strategies = strategies or {}

    # The environment's parts, read and replaced through the mesh (tests and demos swap observers).
    @property
    def providers(self) -> dict[str, ProviderEndpoint]:
        return self.env.providers

    @property
    def clock(self) -> Callable[[], float]:
        return self.env.clock

    @property
    def rng(self) -> random.Random:
        return self.env.rng

    @property
    def quotas(self) -> QuotaBook:
        return self.env.quotas

    @property
    def usage(self) -> UsageLedger:
        return self.env.usage

    @property
    def store(self) -> StateStore:
        return self.env.store

    @store.setter
    def store(self, store: StateStore) -> None:
        self.env.store, self.env.store_blocks = store, does_blocking_io(store)

    @property
    def observer(self) -> Observer:
        return self.env.observer

    @observer.setter
    def observer(self, observer: Observer) -> None:
        self.env.observer = observer

    @property
    def store_blocks(self) -> bool:
        return self.env.store_blocks

    @store_blocks.setter
    def store_blocks(self, blocks: bool) -> None:
        self.env.store_blocks = blocks

    def begin(self, request: httpx2.Request) -> RoutingRun | httpx2.Response:
        """Where the transports hand each SDK request in (``MeshEntry.begin``)."""
        return self.entry.begin(request)

    def redact(self, data: bytes) -> bytes:
        return self.env.redact(data)

    def models(self) -> list[ModelSpec]:
        return self.entry.models()

    def default_timeout_s(self) -> float:
        """The deadline a request gets when its caller sets none: the longest ``total_s`` of the pools."""
        return max((pool.config.timeouts.total_s for pool in self.pools.values()), default=120.0)

    def pool(self, name: str) -> Pool:
        try:
            return self.pools[name]
        except KeyError:
            raise UnknownNameError("pool", name, self.pools) from None

    def list_pools(self) -> list[Pool]:
        return list(self.pools.values())

    def pool_status(self) -> dict[str, PoolStatus]:
        sync = getattr(self.store, "sync", None)
        if sync is not None and may_block():  # a replica: the shared state as of now, where waiting is fine
            sync()
        now = self.clock()
        return {name: self._status(pool, now) for name, pool in self.pools.items()}

    def _health(self, pool: Pool, now: float) -> tuple[dict[str, Unavailable | None], PoolState]:
        """Each member's availability and the pool's record, from one snapshot read (one round trip)."""
        providers = list(dict.fromkeys(m.provider for m in pool.models))
        snap = read_snapshot(self.store, pool.keys, providers, [pool.name])
        quotas = self.quotas or None
        whys = {
            m.key: availability(m, snap.models[m.key], snap.providers[m.provider], now, quotas, self.store)
            for m in pool.models
        }
        return whys, snap.pools[pool.name]

    def _status(self, pool: Pool, now: float) -> PoolStatus:
        whys, record = self._health(pool, now)
        models = []
        for model in pool.models:
            why = whys[model.key]
            if why is None or why.cause == "backoff":
                models.append(ModelStatus(model.key, model.provider, True))
                continue
            until = why.back_at
            back = None if until is None or math.isinf(until) else round(max(until - now, 0.0), 1)
            models.append(ModelStatus(model.key, model.provider, False, why.reason, back))
        active = sum(1 for m in models if m.active)
        return PoolStatus(
            pool.name,
            active,
            len(models) - active,
            len(models),
            self._current(pool, whys, record),
            self._strategies.get(pool.name, type(pool.policy).__name__),
            models,
            bool(getattr(self.store, "degraded", False)),
        )

    def _current(self, pool: Pool, whys: dict[str, Unavailable | None], record: PoolState) -> str | None:
        """The model the pool's next request goes to: the stuck one for a sticking strategy (``rotate()``
        moves it), else the one that answered last (cost-first, round-robin... keep no current)."""
        last = self.env.last_model.get(pool.name)
        key = (record.current or last) if getattr(pool.policy, "sticky", False) else (last or record.current)
        candidates = [m for m in pool.models if _serving(whys[m.key])]
        model = next((m for m in candidates if m.key == key), candidates[0] if candidates else None)
        return model.id if model else None

    def active_providers(self) -> list[str]:
        now = self.clock()
        names: list[str] = []
        for pool in self.pools.values():
            whys, _ = self._health(pool, now)
            for model in pool.models:
                if model.provider not in names and _serving(whys[model.key]):
                    names.append(model.provider)
        return names

    def rotate(self, pool_name: str) -> str | None:
        """Move the pool's current model to standby and select the next active one; returns its id.

        With no other active model the current one is kept and returned (a warning on the ``modelmesh``
        logger and ``rotated: False`` in the event say so): a forced rotation never empties a pool.
        """
        pool = self.pool(pool_name)
        now = self.clock()
        whys, record = self._health(pool, now)
        current_id = self._current(pool, whys, record)
        current = next((m for m in pool.models if m.id == current_id), None)
        start = pool.index_of(current.key) + 1 if current else 0
        ordered = pool.models[start:] + pool.models[:start]
        chosen = next((m for m in ordered if m is not current and _serving(whys[m.key])), current)
        note = None
        if chosen is current:
            kept = f"; kept {current.id}" if current else ""
            note = f"no {'other ' if current else ''}active model in pool {pool.name!r}{kept}"
            logging.getLogger("modelmesh.rotation").warning("rotate(%r): %s", pool.name, note)
        elif current is not None:
            cooldown = pool.config.recovery.cooldown_s
            until = math.inf if pool.config.recovery.mode == "manual" else now + cooldown

            def standby(state: Any) -> None:
                state.standby_until, state.standby_reason = until, "manual rotation"

            self.store.update_model(current.key, standby)
        self.store.update_pool(pool.name, lambda s: setattr(s, "current", chosen.key if chosen else None))
        if self.observer.enabled:
            self.observer.emit(
                RotationEvent(
                    pool=pool.name,
                    from_=current.key if current else None,
                    to=chosen.key if chosen else None,
                    reason="manual",
                    rotated=note is None,
                    note=note,
                )
            )
        return chosen.id if chosen else None

    def close(self) -> None:
        self.store.close()
        close = getattr(self.observer, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"ModelMesh(pools={sorted(self.pools)}, providers={sorted(self.providers)})"


def _serving(why: Unavailable | None) -> bool:
    """Not deactivated: a back-off, a suspicion or a spent quota is short and leaves a model in its pool."""
    return why is None or not why.is_deactivated
