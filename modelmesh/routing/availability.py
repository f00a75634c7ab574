"""Whether a model can take traffic now, and why not: the one home of that rule.

Routing (``run``: which models a request may use), the caller's error when none can (``failures``),
and the extras (``pool_status()``, ``active_providers()``, the current model) all ask ``availability``.
It weighs health only, in a fixed order: a disabled provider, the model's standby, a suspected
provider, a ``Retry-After`` back-off, a spent quota. Whether the model can serve a particular request
(tools, vision, context) is the request's business (``requirements``), not health.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from modelmesh.quotas import QuotaBook
from modelmesh.state.base import ModelState, ProviderState, StateStore
from modelmesh.types import ModelSpec

Cause = Literal["provider", "standby", "suspected", "backoff", "quota"]
# Out for a cause the pool's strategies treat as "deactivated" (a back-off or a suspicion is short).
DEACTIVATED: frozenset[Cause] = frozenset({"provider", "standby"})


@dataclass(frozen=True, slots=True)
class Unavailable:
    cause: Cause
    detail: str  # the record's own words: the standby reason, the provider's reason, the quota spent
    back_at: float | None  # epoch seconds; inf for manual recovery; None when not known

    @property
    def is_deactivated(self) -> bool:
        return self.cause in DEACTIVATED

    @property
    def reason(self) -> str:
        """For ``pool_status()``: the detail, prefixed with whose it is when it is the provider's."""
        prefix = {"provider": "provider: ", "suspected": "provider suspected: "}.get(self.cause, "")
        return prefix + self.detail

    def sentence(self) -> str:
        """For the caller's error: what kind of out it is, then the detail."""
        if self.cause == "provider":
            return f"provider disabled ({self.detail})"
        if self.cause == "suspected":
            return f"provider suspected ({self.detail})"
        return f"standby, {self.detail}" if self.cause == "standby" else self.detail


def availability(
    model: ModelSpec,
    state: ModelState,
    provider: ProviderState,
    now: float,
    quotas: QuotaBook | None = None,
    store: StateStore | None = None,
) -> Unavailable | None:
    """Why ``model`` cannot take traffic at ``now``, or None when it can."""
    if not provider.is_active(now):
        return Unavailable("provider", provider.reason or "disabled", provider.disabled_until)
    if not state.is_active(now):
        return Unavailable("standby", state.standby_reason or "standby", state.standby_until)
    if provider.is_suspected(now):
        return Unavailable("suspected", provider.suspect_reason or "suspected", provider.suspected_until)
    if state.not_before is not None and now < state.not_before:
        return Unavailable("backoff", "waiting out Retry-After", state.not_before)
    if quotas and store is not None:
        spent = quotas.model_blocked(store, model, state.quota, now)
        if spent is not None:
            return Unavailable("quota", spent.reason, spent.back_at)
    return None
