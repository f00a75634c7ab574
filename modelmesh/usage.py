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


class UsageLedger:
    """Thread-safe running totals of successful requests; failed attempts are never counted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_model: dict[str, UsageTotals] = {}
        self.by_provider: dict[str, UsageTotals] = {}
        self.by_pool: dict[str, UsageTotals] = {}

    def record(self, pool: str, model: ModelSpec, usage: dict[str, Any] | None) -> None:
        prompt = int((usage or {}).get("prompt_tokens") or (usage or {}).get("input_tokens") or 0)
        completion = int((usage or {}).get("completion_tokens") or (usage or {}).get("output_tokens") or 0)
        cost = 0.0
        if model.input_price is not None and model.output_price is not None:
            cost = (prompt * model.input_price + completion * model.output_price) / 1_000_000
        with self._lock:
            for table, key in (
                (self.by_model, model.key),
                (self.by_provider, model.provider),
                (self.by_pool, pool),
            ):
                totals = table.get(key)
                if totals is None:
                    totals = table[key] = UsageTotals()
                totals.requests += 1
                totals.prompt_tokens += prompt
                totals.completion_tokens += completion
                totals.cost_usd += cost

    def __repr__(self) -> str:
        return f"UsageLedger(models={len(self.by_model)}, providers={len(self.by_provider)})"
