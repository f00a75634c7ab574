"""The built-in selection strategies, registered as ``modelmesh.<name>.v1``.

Each orders the candidates of one request (already filtered to healthy models that can serve it); the run
tries them in that order. A policy is built once per pool from its ``PoolConfig``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from modelmesh.routing.health import used_fraction
from modelmesh.routing.pool import SelectionContext
from modelmesh.state.base import SessionBinding
from modelmesh.state.memory import MemoryStateStore
from modelmesh.types import ModelSpec

if TYPE_CHECKING:
    from modelmesh.config import PoolConfig

V = TypeVar("V")


class BasePolicy:
    """Pool order, no memory. Subclasses override ``order`` and, when they remember, ``on_success``."""

    lazy = True  # see SelectionPolicy.lazy
    sticky = False  # keeps a current model in the pool's record (``pool_status().current_model`` reads it)

    def __init__(self, config: PoolConfig | None = None) -> None:
        self.config = config

    def order(self, ctx: SelectionContext, candidates: list[ModelSpec]) -> list[ModelSpec]:
        return list(candidates)

    def on_success(self, ctx: SelectionContext, model: ModelSpec) -> None:
        return None


class StickUntilFailurePolicy(BasePolicy):
    """Keep one current model; move to the next active one only when the current is deactivated."""

    sticky = True

    def order(self, ctx: SelectionContext, candidates: list[ModelSpec]) -> list[ModelSpec]:
        pool = ctx.pool
        current = ctx.pool_record().current
        start = max(pool.index_of(current), 0) if current else 0
        rotated = pool.models[start:] + pool.models[:start]
        if current is None or not ctx.is_active(rotated[0]):
            chosen = next((m for m in rotated if ctx.is_active(m)), None)
            if chosen is not None and chosen.key != current:
                ctx.store.update_pool(pool.name, lambda s: setattr(s, "current", chosen.key))
        if candidates is pool.models:
            return rotated  # the whole pool, health checked lazily by the run
        allowed = {m.key for m in candidates}
        return [m for m in rotated if m.key in allowed]


class PrioritySelectionPolicy(BasePolicy):
    """``model_priority``, then ``provider_priority``, then the fallback strategy; recovered models lead."""

    def __init__(self, config: PoolConfig | None = None) -> None:
        super().__init__(config)
        from modelmesh.registry import STRATEGIES

        fallback = getattr(config, "fallback_strategy", "stick-until-failure") if config else None
        fallback_cls = STRATEGIES.get(fallback or "stick-until-failure")
        self.fallback: BasePolicy = (
            BasePolicy(config) if fallback_cls is PrioritySelectionPolicy else fallback_cls(config)
        )
        self.lazy = self.fallback.lazy
        self._split = _PerPool[tuple[list[ModelSpec], list[ModelSpec]]]()  # (ranked, rest)

    def order(self, ctx: SelectionContext, candidates: list[ModelSpec]) -> list[ModelSpec]:
        if candidates is ctx.pool.models:  # the whole pool: its split never changes, so it is kept
            ranked, rest = self._split.get(candidates, self._ranked)
        else:
            ranked, rest = self._ranked(candidates)
        return ranked + self.fallback.order(ctx, rest)

    def _ranked(self, candidates: list[ModelSpec]) -> tuple[list[ModelSpec], list[ModelSpec]]:
        models = list(getattr(self.config, "model_priority", []) or [])
        providers = list(getattr(self.config, "provider_priority", []) or [])

        def rank(model: ModelSpec) -> tuple[int, int]:
            by_model = _position(models, model.id, model.key)
            return by_model, _position(providers, model.provider)

        ranked = [m for m in candidates if rank(m) != (len(models), len(providers))]
        ranked.sort(key=rank)
        rest = [m for m in candidates if m not in ranked]
        return ranked, rest


class RoundRobinPolicy(BasePolicy):
    """Cycle over the active models, one step per request."""

    lazy = False  # the cycle is over the usable models, so it needs to know them all

    def order(self, ctx: SelectionContext, candidates: list[ModelSpec]) -> list[ModelSpec]:
        if not candidates:
            return []

        def advance(state: Any) -> int:
            state.cursor += 1
            return int(state.cursor - 1)

        turn = ctx.store.update_pool(ctx.pool.name, advance) % len(candidates)
        return candidates[turn:] + candidates[:turn]


class CostFirstPolicy(BasePolicy):
    """Cheapest first by input + output price per token; an unknown price ranks last."""

    def __init__(self, config: PoolConfig | None = None) -> None:
        super().__init__(config)
        self._sorted = _PerPool[list[ModelSpec]]()  # the whole pool by price (static)

    def order(self, ctx: SelectionContext, candidates: list[ModelSpec]) -> list[ModelSpec]:
        if candidates is not ctx.pool.models:
            return sorted(candidates, key=_cost)
        return list(self._sorted.get(candidates, lambda models: sorted(models, key=_cost)))


class _PerPool(Generic[V]):
    """A value computed once per pool member list (a pool and its per-endpoint views share a policy)."""

    def __init__(self) -> None:
        self._values: dict[int, tuple[list[ModelSpec], V]] = {}

    def get(self, models: list[ModelSpec], compute: Callable[[list[ModelSpec]], V]) -> V:
        entry = self._values.get(id(models))
        if entry is None or entry[0] is not models:
            entry = self._values[id(models)] = (models, compute(models))
        return entry[1]


def _cost(model: ModelSpec) -> tuple[bool, float]:
    price = model.price_per_token
    return price is None, price or 0.0


class LatencyFirstPolicy(BasePolicy):
    """Lowest median of recent latencies first; an unmeasured model is given the median of the rest."""

    lazy = False

    def order(self, ctx: SelectionContext, candidates: list[ModelSpec]) -> list[ModelSpec]:
        medians: dict[str, float] = {}
        for model in candidates:
            state = ctx.states.get(model.key)
            if state is not None and state.latencies:
                medians[model.key] = statistics.median(state.latencies)
        default = statistics.median(medians.values()) if medians else 0.0
        return sorted(candidates, key=lambda m: medians.get(m.key, default))


class SessionStickinessPolicy(BasePolicy):
    """Keep a session on one model while it is active; ``strict`` fails, ``fallback`` rebinds when not.

    Session ids arrive hashed (``state.base.session_key``) and each binding is a record of its own, so
    one session's write never rewrites another's; a binding is refreshed only past half its lifetime."""

    lazy = False  # new sessions are spread round-robin over the usable models

    def __init__(self, config: PoolConfig | None = None) -> None:
        super().__init__(config)
        self._local = MemoryStateStore()  # for a user store without session records

    def order(self, ctx: SelectionContext, candidates: list[ModelSpec]) -> list[ModelSpec]:
        spread = RoundRobinPolicy(self.config)
        if ctx.session_id is None:
            return spread.order(ctx, candidates)
        bound = self._sessions(ctx).read_session(ctx.pool.name, ctx.session_id, ctx.now)
        ctx.extras["session"] = bound
        if bound is None:
            return spread.order(ctx, candidates)  # a new session: spread new sessions over the pool
        model = next((m for m in candidates if m.key == bound.model), None)
        if model is not None:
            return [model] + [m for m in candidates if m is not model]
        session = getattr(self.config, "session", None)
        return [] if getattr(session, "mode", "fallback") == "strict" else spread.order(ctx, candidates)

    def on_success(self, ctx: SelectionContext, model: ModelSpec) -> None:
        if ctx.session_id is None:
            return
        ttl_s = float(getattr(getattr(self.config, "session", None), "ttl_s", 3600.0))
        bound = ctx.extras.get("session")
        if bound is not None and bound.model == model.key and bound.expires - ctx.now > ttl_s / 2:
            return  # still bound to this model for long enough: no write
        binding = SessionBinding(model.key, ctx.now + ttl_s)
        self._sessions(ctx).write_session(ctx.pool.name, ctx.session_id, binding, ctx.now)

    def _sessions(self, ctx: SelectionContext) -> Any:
        return ctx.store if hasattr(ctx.store, "read_session") else self._local


class RateLimitAwarePolicy(StickUntilFailurePolicy):
    """Stick to one model, but move off it before its rate-limit headroom runs out (threshold used)."""

    lazy = False

    def order(self, ctx: SelectionContext, candidates: list[ModelSpec]) -> list[ModelSpec]:
        threshold = float(getattr(self.config, "rate_limit_threshold", 0.8) or 0.8)

        def exhausted(model: ModelSpec) -> bool:
            state = ctx.states.get(model.key)
            used = used_fraction(state) if state is not None else None
            return used is not None and used >= threshold

        ordered = super().order(ctx, candidates)
        return [m for m in ordered if not exhausted(m)] + [m for m in ordered if exhausted(m)]


class LoadBalancedPolicy(BasePolicy):
    """Weighted random order, weights in proportion to rate-limit headroom (unknown headroom = full)."""

    lazy = False

    def order(self, ctx: SelectionContext, candidates: list[ModelSpec]) -> list[ModelSpec]:
        remaining = list(candidates)
        ordered: list[ModelSpec] = []
        while remaining:
            weights = [_headroom(ctx, m) for m in remaining]
            pick = ctx.rng.choices(range(len(remaining)), weights=weights)[0]
            ordered.append(remaining.pop(pick))
        return ordered


def _headroom(ctx: SelectionContext, model: ModelSpec) -> float:
    state = ctx.states.get(model.key)
    used = used_fraction(state) if state is not None else None
    return max(1.0 - used, 0.01) if used is not None else 1.0


def _position(order: list[str], *names: str) -> int:
    for index, entry in enumerate(order):
        if entry in names:
            return index
    return len(order)
