"""The reliability sections of a pool's configuration: deactivation, recovery, retry, timeouts, streaming,
and the quota limits that providers, models and pools may carry.

Split out of ``modelmesh.config`` (which re-exports every class here) so that the schema of routing
conduct reads in one place. Pure schema: the meaning of each field lives in ``modelmesh.routing`` and
``modelmesh.quotas``; ``docs/reliability.md`` documents them for users.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from modelmesh.config.section import ConfigSection

QuotaWindow = Literal["minute", "hour", "day", "month"]
# Where a window starts again: at the calendar boundary in UTC or US-Pacific time, or sliding (rolling).
QuotaReset = Literal["utc-midnight", "us-pacific-midnight", "rolling"]


class QuotaLimit(ConfigSection):
    """One cap: ``{requests: 1000, per: day}``, ``{tokens: 500000, per: day}``, ``{cost_usd: 5, per: month}``.

    ``per`` is the window; ``reset`` overrides the enclosing quota's calendar for this limit.
    """

    requests: int | None = Field(default=None, ge=1)
    tokens: int | None = Field(default=None, ge=1)
    cost_usd: float | None = Field(default=None, gt=0)
    per: QuotaWindow
    reset: QuotaReset | None = None  # None: the enclosing quota's reset calendar

    @model_validator(mode="after")
    def _one_metric(self) -> QuotaLimit:
        given = [name for name in ("requests", "tokens", "cost_usd") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of requests, tokens, cost_usd")
        return self

    @property
    def metric(self) -> str:
        if self.requests is not None:
            return "requests"
        return "tokens" if self.tokens is not None else "cost_usd"

    @property
    def amount(self) -> float:
        return float(getattr(self, self.metric))


class QuotaConfig(ConfigSection):
    """``providers.<name>.quota``: provider-wide limits, per-model limits, the provider's reset calendar."""

    reset: QuotaReset = "utc-midnight"
    limits: list[QuotaLimit] = []  # over all of the provider's models together
    models: dict[str, list[QuotaLimit]] = {}  # by the provider's own model id


class DeactivationConfig(ConfigSection):
    failure_threshold: int = Field(default=3, ge=1)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    window: int = Field(default=20, ge=1)
    provider_statuses: list[int] = [401, 403]
    model_statuses: list[int] = [404]


class RecoveryConfig(ConfigSection):
    mode: Literal["cooldown", "manual"] = "cooldown"
    cooldown_s: float = Field(default=60, ge=0)


class RetryConfig(ConfigSection):
    max_attempts: int = Field(default=2, ge=1)  # attempts per model per request
    backoff_base_s: float = Field(default=0.25, ge=0)
    backoff_max_s: float = Field(default=8, ge=0)
    jitter: bool = True
    max_retry_after_s: float = Field(default=30, ge=0)
    # A Retry-After up to this is waited out on the same model even when another is ready (0: fail over).
    patience_s: float = Field(default=0, ge=0)
    # A silent provider is usually still silent: by default a timeout moves on instead of retrying.
    retry_timeouts: bool = False

    @model_validator(mode="after")
    def _check_backoff(self) -> RetryConfig:
        if self.backoff_max_s < self.backoff_base_s:
            raise ValueError("backoff_max_s must be ≥ backoff_base_s")
        return self


class TimeoutsConfig(ConfigSection):
    connect_s: float = Field(default=10, gt=0)
    read_s: float = Field(default=60, gt=0)
    first_token_s: float = Field(default=30, gt=0)
    stall_s: float = Field(default=30, gt=0)
    total_s: float = Field(default=120, gt=0)


class StreamingConfig(ConfigSection):
    """What happens when a stream breaks after content reached the caller."""

    # "error": raise StreamInterruptedError (with the partial text). "continue": resume the answer on a
    # model that supports assistant prefill and stitch the rest into the same stream.
    on_interrupt: Literal["error", "continue"] = "error"
    max_continuations: int = Field(default=2, ge=1)


__all__ = [
    "DeactivationConfig",
    "QuotaConfig",
    "QuotaLimit",
    "RecoveryConfig",
    "RetryConfig",
    "StreamingConfig",
    "TimeoutsConfig",
]
