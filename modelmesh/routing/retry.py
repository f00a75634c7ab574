"""Back-off between attempts on the same model: exponential with full jitter, or the provider's word."""

from __future__ import annotations

import random
from typing import Protocol


class RetrySettings(Protocol):
    max_attempts: int
    backoff_base_s: float
    backoff_max_s: float
    jitter: bool
    max_retry_after_s: float


def backoff_s(settings: RetrySettings, retry_number: int, rng: random.Random) -> float:
    """Seconds before retry ``retry_number`` (1 = first retry). Full jitter spreads synchronized clients."""
    ceiling = min(settings.backoff_max_s, settings.backoff_base_s * (2 ** (retry_number - 1)))
    return rng.uniform(0, ceiling) if settings.jitter else ceiling
