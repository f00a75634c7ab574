"""Quotas and budgets: request, token and cost caps per window for models, providers and pools.

Owns the arithmetic of windows (calendar minute/hour/day/month in UTC or US-Pacific time, or rolling),
the counters kept in the state records (``ModelState.quota`` and friends, so SQLite persists them and
Redis shares them), and the verdict "exhausted until T". A limit's counter is a short list of
``[bucket start, used]`` pairs: one bucket per calendar window, sixty per rolling window.

Counting is check-then-add: requests in flight when a cap is reached can overshoot it by their number.
Only successful requests count (a failed attempt is not billed); tokens and cost are counted from the
usage the provider reported, or estimated at ~4 characters per token when it reported none.
It does no I/O itself: the store is handed in, the clock value too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from modelmesh.errors import ConfigError
from modelmesh.state.base import StateStore

if TYPE_CHECKING:
    from modelmesh.config import MeshConfig
    from modelmesh.config.reliability import QuotaLimit
    from modelmesh.types import ModelSpec

_SECONDS = {"minute": 60.0, "hour": 3600.0, "day": 86400.0, "month": 30 * 86400.0}
_ZONES = {"utc-midnight": UTC, "us-pacific-midnight": ZoneInfo("America/Los_Angeles")}
_ROLLING_BUCKETS = 60
Counters = dict[str, list[list[float]]]


@dataclass(frozen=True, slots=True)
class Limit:
    """One cap at run time: ``amount`` of ``metric`` per ``per``, starting again as ``reset`` says."""

    metric: str  # requests | tokens | cost_usd
    amount: float
    per: str  # minute | hour | day | month
    reset: str  # utc-midnight | us-pacific-midnight | rolling

    @property
    def key(self) -> str:
        return f"{self.metric}/{self.per}/{self.reset}"

    def describe(self) -> str:
        amount = f"${self.amount:g}" if self.metric == "cost_usd" else f"{self.amount:g} {self.metric}"
        when = "rolling" if self.reset == "rolling" else f"resets {_RESET_WORDS[self.reset][self.per]}"
        return f"{amount} per {self.per} ({when})"

    def window(self, now: float) -> tuple[float, float]:
        """The current window as (start, end) in epoch seconds."""
        if self.reset == "rolling":
            return now - _SECONDS[self.per], now
        if self.per in ("minute", "hour"):
            size = _SECONDS[self.per]
            start = math.floor(now / size) * size
            return start, start + size
        local = datetime.fromtimestamp(now, _ZONES[self.reset])
        day = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.per == "day":
            return day.timestamp(), _next_midnight(day).timestamp()
        first = day.replace(day=1)
        following = (first + timedelta(days=32)).replace(day=1)
        return first.timestamp(), following.timestamp()

    def bucket(self, now: float) -> float:
        if self.reset == "rolling":
            size = _SECONDS[self.per] / _ROLLING_BUCKETS
            return math.floor(now / size) * size
        return self.window(now)[0]

    def used(self, counters: Counters, now: float) -> float:
        start = self._oldest_live(now)
        return sum(used for begin, used in counters.get(self.key, ()) if begin >= start)

    def add(self, counters: Counters, now: float, amount: float) -> None:
        start, bucket = self._oldest_live(now), self.bucket(now)
        buckets = [b for b in counters.get(self.key, ()) if b[0] >= start]
        if buckets and buckets[-1][0] == bucket:
            buckets[-1][1] += amount
        else:
            buckets.append([bucket, amount])
        counters[self.key] = buckets

    def back_at(self, counters: Counters, now: float) -> float:
        """When usage falls below the cap again (assuming no more use)."""
        if self.reset != "rolling":
            return self.window(now)[1]
        start, size = self._oldest_live(now), _SECONDS[self.per]
        live = sorted(b for b in counters.get(self.key, ()) if b[0] >= start)
        used = sum(u for _, u in live)
        for begin, amount in live:
            used -= amount
            if used < self.amount:
                return begin + size
        return now

    def _oldest_live(self, now: float) -> float:
        if self.reset == "rolling":
            return self.bucket(now - _SECONDS[self.per]) + _SECONDS[self.per] / _ROLLING_BUCKETS
        return self.window(now)[0]


_RESET_WORDS = {
    "utc-midnight": {
        "minute": "each minute",
        "hour": "each hour",
        "day": "at UTC midnight",
        "month": "on the 1st, UTC",
    },
    "us-pacific-midnight": {
        "minute": "each minute",
        "hour": "each hour",
        "day": "at US-Pacific midnight",
        "month": "on the 1st, US-Pacific",
    },
}


def _next_midnight(day: datetime) -> datetime:
    # Add a calendar day in local time (DST days last 23 or 25 hours), then re-normalise.
    return (day + timedelta(days=1, hours=2)).replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Blocked:
    """Why a model, provider or pool is out of quota, and when it is back (epoch seconds)."""

    reason: str
    back_at: float


def blocked(limits: Iterable[Limit], counters: Counters, now: float) -> Blocked | None:
    """The exhausted limits' verdict (the latest comeback wins), or None when every limit has room."""
    spent = [limit for limit in limits if limit.used(counters, now) >= limit.amount]
    if not spent:
        return None
    back = max(limit.back_at(counters, now) for limit in spent)
    return Blocked("quota: " + "; ".join(f"{limit.describe()} used" for limit in spent), back)


@dataclass(slots=True)
class QuotaBook:
    """Every configured limit, by model key, provider name and pool name."""

    models: dict[str, tuple[Limit, ...]] = field(default_factory=dict)
    providers: dict[str, tuple[Limit, ...]] = field(default_factory=dict)
    pools: dict[str, tuple[Limit, ...]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.models or self.providers or self.pools)

    def model_blocked(
        self, store: StateStore, model: ModelSpec, counters: Counters, now: float
    ) -> Blocked | None:
        """The model's own limits, then its provider's."""
        found = blocked(self.models.get(model.key, ()), counters, now)
        limits = self.providers.get(model.provider)
        if found is None and limits:
            found = blocked(limits, store.read_provider(model.provider).quota, now)
        return found

    def pool_blocked(self, store: StateStore, pool: str, now: float) -> Blocked | None:
        limits = self.pools.get(pool)
        return blocked(limits, store.read_pool(pool).quota, now) if limits else None

    def count(
        self, store: StateStore, pool: str, model: ModelSpec, amounts: Mapping[str, float], now: float
    ) -> None:
        """Add ``{"requests": 1, "tokens": ..., "cost_usd": ...}`` to every counter the model feeds."""

        def adder(limits: tuple[Limit, ...]) -> Any:
            def add(state: Any) -> None:
                for limit in limits:
                    if amounts.get(limit.metric):
                        limit.add(state.quota, now, amounts[limit.metric])

            return add

        if limits := self.models.get(model.key):
            store.update_model(model.key, adder(limits))
        if limits := self.providers.get(model.provider):
            store.update_provider(model.provider, adder(limits))
        if limits := self.pools.get(pool):
            store.update_pool(pool, adder(limits))


EMPTY = QuotaBook()


def build_quota_book(config: MeshConfig, models: Iterable[ModelSpec]) -> QuotaBook:
    """The run-time limits of a config; per-model limits must name a model the provider serves."""
    book = QuotaBook()
    served: dict[str, set[str]] = {}
    for model in models:
        served.setdefault(model.provider, set()).add(model.id)
    for name, provider in config.providers.items():
        quota = provider.quota
        if not provider.enabled:
            continue
        if quota.limits:
            book.providers[name] = _limits(quota.limits, quota.reset)
        for model_id, limits in quota.models.items():
            if model_id not in served.get(name, ()):
                known = ", ".join(sorted(served.get(name, ()))) or "(none)"
                raise ConfigError(
                    f"provider {name!r} serves no model {model_id!r} (it serves: {known})",
                    path=f"providers.{name}.quota.models.{model_id}",
                )
            book.models[f"{name}.{model_id}"] = _limits(limits, quota.reset)
    for key, model_config in config.models.items():
        if model_config.quota:
            owner = config.providers.get(model_config.provider)
            reset = owner.quota.reset if owner is not None else "utc-midnight"
            full_key = f"{model_config.provider}.{model_config.id or key}"
            book.models[full_key] = book.models.get(full_key, ()) + _limits(model_config.quota, reset)
    for name, pool in config.pools.items():
        if pool.quota:
            book.pools[name] = _limits(pool.quota, "utc-midnight")
    return book


def _limits(limits: Iterable[QuotaLimit], reset: str) -> tuple[Limit, ...]:
    return tuple(Limit(limit.metric, limit.amount, limit.per, limit.reset or reset) for limit in limits)
