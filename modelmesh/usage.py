"""Token and cost accounting per model, provider and pool (``client.usage``)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from modelmesh.types import ModelSpec


@dataclass(slots=True)
class UsageTotals:
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def token_counts(usage: dict[str, Any] | None) -> tuple[int, int]:
    """(prompt, completion) tokens of an OpenAI- or Anthropic-shaped usage object."""
    usage = usage or {}
    prompt = int(usage.get("prompt_tokens") or usage.get("input_tokens") or 0)
    return prompt, int(usage.get("completion_tokens") or usage.get("output_tokens") or 0)


def cost_usd(model: ModelSpec, prompt: int, completion: int) -> float:
    """Catalogue or configured price; 0 when the model has no per-token price."""
    if model.input_price is None or model.output_price is None:
        return 0.0
    return (prompt * model.input_price + completion * model.output_price) / 1_000_000


def billable_amounts(
    model: ModelSpec, usage: dict[str, Any] | None, request_bytes: int, answer_chars: int
) -> dict[str, float]:
    """What one answered request adds to quota counters; ~4 bytes per token when usage is missing."""
    prompt, completion = token_counts(usage)
    if not usage:
        prompt, completion = request_bytes // 4, answer_chars // 4
    return {"tokens": prompt + completion, "cost_usd": cost_usd(model, prompt, completion)}


class UsageLedger:
    """Thread-safe running totals of successful requests; failed attempts are never counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_model: dict[str, UsageTotals] = {}
        self.by_provider: dict[str, UsageTotals] = {}
        self.by_pool: dict[str, UsageTotals] = {}
        # (pool, model key) -> the three totals one request updates, found once per pair.
        self._rows: dict[tuple[str, str], tuple[UsageTotals, UsageTotals, UsageTotals]] = {}

    def record(self, pool: str, model: ModelSpec, usage: dict[str, Any] | None) -> None:
        prompt, completion = token_counts(usage)
        cost = cost_usd(model, prompt, completion)
        with self._lock:
            rows = self._rows.get((pool, model.key))
            if rows is None:
                rows = self._rows[(pool, model.key)] = (
                    self.by_model.setdefault(model.key, UsageTotals()),
                    self.by_provider.setdefault(model.provider, UsageTotals()),
                    self.by_pool.setdefault(pool, UsageTotals()),
                )
            for totals in rows:
                totals.requests += 1
                totals.prompt_tokens += prompt
                totals.completion_tokens += completion
                totals.cost_usd += cost

    def __repr__(self) -> str:
        return f"UsageLedger(models={len(self.by_model)}, providers={len(self.by_provider)})"
