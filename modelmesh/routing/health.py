"""Deactivation and recovery: how one attempt's outcome changes a model's or provider's health.

A model goes to standby after ``failure_threshold`` consecutive failures, when its recent error rate
passes ``error_rate``, or at once on a status in ``model_statuses``. Standby ends after the cooldown
(or never, in manual recovery). A model back from standby is half-open: one request at a time holds its
probe lease (``take_probe``) and the others go elsewhere; the probe's failure sends it straight back,
its success closes the circuit. So an outage costs one probe per cooldown rather than one per request.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from typing import Protocol

from modelmesh.connectors.base import Failure
from modelmesh.state.base import LATENCY_WINDOW, ModelState, ProviderState


class DeactivationSettings(Protocol):
    failure_threshold: int
    error_rate: float | None
    window: int
    provider_statuses: list[int]
    model_statuses: list[int]


class RecoverySettings(Protocol):
    @property
    def mode(self) -> str: ...

    @property
    def cooldown_s(self) -> float: ...


def standby_until(recovery: RecoverySettings, now: float) -> float:
    return math.inf if recovery.mode == "manual" else now + recovery.cooldown_s


def record_success(state: ModelState, latency_s: float, headers: Mapping[str, str]) -> None:
    state.requests += 1
    state.consecutive_failures = 0
    state.standby_until = None
    state.standby_reason = None
    state.standby_cause = None
    state.not_before = None
    state.probe_until = None
    _push(state.recent, True, LATENCY_WINDOW)
    _push(state.latencies, latency_s, LATENCY_WINDOW)
    read_rate_limits(state, headers)


def record_failure(
    state: ModelState,
    failure: Failure,
    deactivation: DeactivationSettings,
    recovery: RecoverySettings,
    now: float,
) -> str | None:
    """Count a failed attempt; returns the standby reason when it took the model out, else None."""
    state.requests += 1
    state.failures += 1
    state.consecutive_failures += 1
    _push(state.recent, False, max(deactivation.window, 1))
    read_rate_limits(state, failure.headers)
    half_open = state.standby_until is not None
    state.probe_until = None
    reason, cause = None, "failures"
    if failure.status in deactivation.model_statuses:
        reason, cause = f"HTTP {failure.status}", "status"
    elif half_open:
        reason = f"failed its recovery probe ({failure.kind.value})"
    elif state.consecutive_failures >= deactivation.failure_threshold:
        reason = f"{state.consecutive_failures} consecutive failures ({failure.kind.value})"
    elif deactivation.error_rate is not None and len(state.recent) >= max(2, deactivation.window // 2):
        rate = state.recent.count(False) / len(state.recent)
        if rate >= deactivation.error_rate:
            reason = f"error rate {rate:.0%} over {len(state.recent)} requests"
    if reason is not None:
        state.standby_until = standby_until(recovery, now)
        state.standby_reason = reason
        state.standby_cause = cause
    elif failure.retry_after_s:
        state.not_before = now + failure.retry_after_s
    return reason


def take_probe(state: ModelState, now: float, lease_s: float) -> bool | None:
    """Claim a half-open model's recovery probe: True when claimed, False while another request holds
    an unexpired lease, None when the model is not half-open (no probe needed)."""
    if not state.is_half_open(now):
        return None
    if state.probe_until is not None and now < state.probe_until:
        return False
    state.probe_until = now + lease_s
    return True


def release_probe(state: ModelState) -> None:
    """Give a probe lease back unused (its request was cancelled before the model answered)."""
    state.probe_until = None


def disable_provider(state: ProviderState, failure: Failure, recovery: RecoverySettings, now: float) -> None:
    state.disabled_until = standby_until(recovery, now)
    state.reason = f"HTTP {failure.status}: {failure.message[:120]}"


def suspect_provider(state: ProviderState, failure: Failure, recovery: RecoverySettings, now: float) -> None:
    """A timeout or refused connection: the endpoint, not one model, is in doubt until the cooldown ends."""
    state.suspected_until = now + recovery.cooldown_s
    state.suspect_reason = f"{failure.kind.value}: {failure.message[:120]}"


def panic_rank(state: ModelState) -> float:
    """Panic mode's order among models benched for failures: the best recent record first."""
    return -(state.recent.count(True) / len(state.recent)) if state.recent else 0.0


def read_rate_limits(state: ModelState, headers: Mapping[str, str]) -> None:
    """Rate-limit headroom from OpenAI-style and Anthropic-style headers, when present."""
    if not headers:
        return
    # One pass over the headers: keyed lookups on httpx2.Headers scan the list each time.
    for name, value in headers.items():
        field = _RATE_LIMIT_HEADERS.get(name.lower()) if "ratelimit" in name.lower() else None
        if field is not None:
            with contextlib.suppress(ValueError):
                setattr(state, field, int(float(value)))


_RATE_LIMIT_HEADERS = {
    "x-ratelimit-remaining-requests": "ratelimit_remaining_requests",
    "anthropic-ratelimit-requests-remaining": "ratelimit_remaining_requests",
    "x-ratelimit-limit-requests": "ratelimit_limit_requests",
    "anthropic-ratelimit-requests-limit": "ratelimit_limit_requests",
    "x-ratelimit-remaining-tokens": "ratelimit_remaining_tokens",
    "anthropic-ratelimit-tokens-remaining": "ratelimit_remaining_tokens",
    "x-ratelimit-limit-tokens": "ratelimit_limit_tokens",
    "anthropic-ratelimit-tokens-limit": "ratelimit_limit_tokens",
}


def used_fraction(state: ModelState) -> float | None:
    """The larger of the used request and token fractions, or None when no headers were seen."""
    fractions = [
        1 - remaining / limit
        for remaining, limit in (
            (state.ratelimit_remaining_requests, state.ratelimit_limit_requests),
            (state.ratelimit_remaining_tokens, state.ratelimit_limit_tokens),
        )
        if remaining is not None and limit
    ]
    return max(fractions) if fractions else None


def _push(window: list, value: object, size: int) -> None:
    window.append(value)
    if len(window) > size:
        del window[: len(window) - size]
