"""The failures a run makes up itself (no model left, deadline passed) and the caller's error body.

Pure: everything it reports comes from the pool, the state records and what the run collected.
"""

from __future__ import annotations

import json
import math
from typing import Any

from modelmesh.connectors.base import Failure, FailureKind
from modelmesh.routing.availability import availability
from modelmesh.routing.pool import Pool
from modelmesh.state.base import StateStore, read_snapshot


def no_model_failure(
    pool: Pool, store: StateStore, unmet: dict[str, str], quota: dict[str, tuple[str, float]], now: float
) -> Failure:
    """Why no model could take the request: missing features (400), quotas spent (429), standby (503)."""
    if unmet and len(unmet) == len(pool.models):
        needs = sorted(set(unmet.values()))
        message = (
            f"No model in pool {pool.name!r} can serve this request: it needs {'; '.join(needs)}. "
            f"Models in the pool: {', '.join(m.key for m in pool.models)}."
        )
        return local_failure(FailureKind.BAD_REQUEST, 400, message, "no_capable_model")
    providers = list(dict.fromkeys(m.provider for m in pool.models))
    snap = read_snapshot(store, pool.keys, providers, [])
    reasons: dict[str, list[str]] = {}  # the reason -> the models it keeps out (said once per reason)
    backs = [back_at for _, back_at in quota.values()]
    for model in pool.models:
        why = availability(model, snap.models[model.key], snap.providers[model.provider], now)
        if why is not None and why.cause != "backoff":
            back = why.back_at
            when = "manual recovery" if back == math.inf else f"back in {max((back or now) - now, 0):.0f}s"
            if why.cause == "standby":
                backs.append(back or now)
            reasons.setdefault(f"{why.sentence()} ({when})", []).append(model.key)
        elif model.key in quota:
            reason, back_at = quota[model.key]
            reasons.setdefault(f"{reason} (back in {max(back_at - now, 0):.0f}s)", []).append(model.key)
        elif model.key in unmet:
            reasons.setdefault(f"cannot serve it, needs {unmet[model.key]}", []).append(model.key)
    lines = [f"{', '.join(models)}: {reason}" for reason, models in reasons.items()]
    detail = "; ".join(lines) or "the pool has no models"
    message = f"No active model in pool {pool.name!r}: {detail}."
    if quota:  # nothing could take it and quotas are part of why: the caller should come back later
        back = min(backs)
        failure = local_failure(FailureKind.RATE_LIMITED, 429, message, "quota_exhausted")
        retry_after = str(max(math.ceil(back - now), 1))
        return Failure(failure.kind, message, 429, back - now, {"retry-after": retry_after}, failure.body)
    return local_failure(FailureKind.SERVER, 503, message, "no_model_available")


def with_attempts(body: bytes, attempts: list[dict[str, Any]], summary: str | None = None) -> bytes:
    """The error body with the run's attempts under ``error.attempts`` (and ``summary`` as its message,
    keeping the last provider's own words under ``error.last_message``)."""
    try:
        data = json.loads(body)
    except ValueError:
        return body
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        error = data["error"]
        error["attempts"] = attempts
        if summary is not None:
            error["last_message"], error["message"] = error.get("message"), summary
        return json.dumps(data).encode()
    return body


def local_failure(kind: FailureKind, status: int, message: str, code: str) -> Failure:
    body = json.dumps({"error": {"message": message, "type": "modelmesh_error", "code": code, "param": None}})
    return Failure(kind=kind, message=message, status=status, body=body.encode())


def deadline_failure(pool: Pool) -> Failure:
    message = f"pool {pool.name!r}: overall deadline of {pool.config.timeouts.total_s}s exceeded"
    return Failure(kind=FailureKind.TIMEOUT, message=message)
