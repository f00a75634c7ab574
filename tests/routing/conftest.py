"""A pure routing environment for driving ``RoutingRun`` without any I/O: fake clock, seeded RNG."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest
from pydantic import SecretStr

from modelmesh.config import PoolConfig
from modelmesh.connectors.base import Failure, FailureKind, InboundRequest
from modelmesh.connectors.openai_chat import OpenAIChatConnector
from modelmesh.quotas import QuotaBook
from modelmesh.registry import STRATEGIES
from modelmesh.routing.pool import Pool
from modelmesh.routing.run import Attempt, Exhausted, RoutingRun, Wait
from modelmesh.state.memory import MemoryStateStore
from modelmesh.types import Endpoint, ModelSpec, ProviderEndpoint

CHAT = "generation.text-generation.chat-completion"


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class RecordingObserver:
    enabled = True

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: dict[str, Any]) -> None:
        self.events.append(event)


@dataclass
class Env:
    """Implements the RoutingEnv protocol for tests."""

    providers: dict[str, ProviderEndpoint]
    clock: FakeClock = field(default_factory=FakeClock)
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    store: MemoryStateStore = field(default_factory=MemoryStateStore)
    observer: RecordingObserver = field(default_factory=RecordingObserver)
    quotas: QuotaBook = field(default_factory=QuotaBook)
    store_blocks: bool = False

    def connector_for(self, provider: str) -> OpenAIChatConnector:
        return OpenAIChatConnector()

    def redact(self, data: bytes) -> bytes:
        for provider in self.providers.values():
            if provider.api_key is not None:
                data = data.replace(provider.api_key.get_secret_value().encode(), b"[redacted]")
        return data


def model(name: str, provider: str | None = None, **kwargs: Any) -> ModelSpec:
    kwargs.setdefault("features", frozenset({"system_prompt", "tool_calling"}))
    return ModelSpec(id=name, provider=provider or name, capabilities=frozenset({CHAT}), **kwargs)


def make_pool(models: list[ModelSpec], strategy: str = "stick-until-failure", **config: Any) -> Pool:
    pool_config = PoolConfig(strategy=strategy, **config)
    return Pool("chat", CHAT, models, pool_config, STRATEGIES.get(strategy)(pool_config))


def make_env(models: list[ModelSpec]) -> Env:
    providers = {
        m.provider: ProviderEndpoint(
            m.provider, "openai.llm.v1", f"http://{m.provider}.test/v1", SecretStr(f"sk-key-{m.provider}")
        )
        for m in models
    }
    return Env(providers)


def chat_request(**body: Any) -> InboundRequest:
    payload = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], **body}
    return InboundRequest(Endpoint.CHAT, "POST", {}, payload, b"{}")


def fail(
    kind: FailureKind, status: int | None = None, retry_after: float | None = None, **kw: Any
) -> Failure:
    body = b'{"error": {"message": "boom", "type": "x"}}' if status else b""
    return Failure(kind, "boom", status=status, retry_after_s=retry_after, body=body, **kw)


def drive(run: RoutingRun, env: Env, outcomes: dict[str, list[Failure | None]]) -> tuple[list[str], Any]:
    """Run to completion; ``outcomes[model_id]`` scripts each attempt (None = success).

    Returns the sequence of steps (``"model"`` or ``"wait:<s>"``) and the final Attempt or Exhausted.
    """
    trace: list[str] = []
    while True:
        step = run.next_step()
        if isinstance(step, Wait):
            trace.append(f"wait:{step.seconds:g}")
            env.clock.advance(step.seconds)
            continue
        if isinstance(step, Exhausted):
            return trace, step
        assert isinstance(step, Attempt)
        trace.append(step.model.id)
        script = outcomes.get(step.model.id, [])
        outcome = script.pop(0) if script else None
        env.clock.advance(0.01)
        if outcome is None:
            run.succeeded(step, {})
            return trace, step
        run.failed(step, outcome)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
