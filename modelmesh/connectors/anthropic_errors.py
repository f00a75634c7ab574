"""Anthropic error responses -> routing ``Failure``s whose bodies are OpenAI-shaped errors.

Owns the classification table (status and message -> ``FailureKind``), the OpenAI ``error.code`` each
kind carries, scrubbing API keys out of echoed messages, and the retry delay from ``retry-after`` or the
exhausted limit's ``anthropic-ratelimit-*-reset`` header. Used for HTTP errors and, through the stream
translator, for mid-stream ``error`` events, so both are classified alike.

Deliberately not here: whether or where to retry (``modelmesh.routing``) and I/O. Time is passed in.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from email.utils import parsedate_to_datetime

from modelmesh.connectors.base import Failure, FailureKind

__all__ = ["classify_error"]

_API_KEY = re.compile(r"sk-ant-[A-Za-z0-9_-]+")
_CONTEXT_OVERFLOW = re.compile(r"prompt is too long|exceed\w* (the )?context (limit|window)|context length")
_CONTENT_POLICY = re.compile(r"content filtering|content policy|usage policy")
# The body is rewritten, so length and encoding headers of the provider's response no longer hold.
_STALE_HEADERS = frozenset({"content-length", "content-encoding", "transfer-encoding"})
_KIND_CODES: dict[FailureKind, str] = {
    FailureKind.CONTEXT_LENGTH: "context_length_exceeded",
    FailureKind.RATE_LIMITED: "rate_limit_exceeded",
    FailureKind.CONTENT_POLICY: "content_filter",
}


def classify_error(status: int, headers: Mapping[str, str], body: bytes, *, now: float) -> Failure:
    """The routing failure for an Anthropic error response received at ``now`` (epoch seconds)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    error_type, message = _anthropic_error(status, body)
    kind = _failure_kind(status, message)
    error = {
        "message": message,
        "type": error_type,
        "code": _KIND_CODES.get(kind, error_type),
        "param": None,
    }
    return Failure(
        kind=kind,
        message=f"anthropic {status} {error_type}: {message}",
        status=status,
        retry_after_s=_retry_after_s(lowered, now),
        headers={k: v for k, v in headers.items() if k.lower() not in _STALE_HEADERS},
        body=json.dumps({"error": error}).encode(),
    )


def _anthropic_error(status: int, body: bytes) -> tuple[str, str]:
    """(Anthropic error type, message) from an error body; tolerant of proxies' HTML and plain text."""
    try:
        parsed = json.loads(body) if body else {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        parsed = {}
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        error_type = str(error.get("type") or "api_error")
        message = str(error.get("message") or f"HTTP {status} from Anthropic")
    else:
        text = body.decode("utf-8", "replace").strip()[:500]
        error_type = "api_error"
        message = f"HTTP {status} from Anthropic" + (f": {text}" if text else "")
    return error_type, _API_KEY.sub("sk-ant-***", message)


def _failure_kind(status: int, message: str) -> FailureKind:
    if status == 429:
        return FailureKind.RATE_LIMITED
    if status == 408 or status >= 500:
        return FailureKind.SERVER
    if status in (401, 403):
        return FailureKind.AUTH
    if status == 404:
        return FailureKind.NOT_FOUND
    lowered = message.lower()
    if _CONTEXT_OVERFLOW.search(lowered):
        return FailureKind.CONTEXT_LENGTH
    if _CONTENT_POLICY.search(lowered):
        return FailureKind.CONTENT_POLICY
    return FailureKind.BAD_REQUEST


def _retry_after_s(headers: Mapping[str, str], now: float) -> float | None:
    """``retry-after`` (seconds or HTTP date), else the exhausted limit's ``anthropic-ratelimit-*-reset``."""
    value = headers.get("retry-after")
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            try:
                return max(parsedate_to_datetime(value).timestamp() - now, 0.0)
            except (TypeError, ValueError):
                pass
    resets: dict[str, float] = {}
    for limit in ("requests", "tokens", "input-tokens", "output-tokens"):
        reset = headers.get(f"anthropic-ratelimit-{limit}-reset")
        if reset:
            try:
                resets[limit] = max(datetime.fromisoformat(reset).timestamp() - now, 0.0)
            except ValueError:
                continue
    if not resets:
        return None
    exhausted = [
        seconds
        for limit, seconds in resets.items()
        if headers.get(f"anthropic-ratelimit-{limit}-remaining") == "0"
    ]
    # Without a limit known to be exhausted, the earliest reset is the first moment a retry can succeed.
    return max(exhausted) if exhausted else min(resets.values())
