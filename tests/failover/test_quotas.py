"""Quotas and budgets through the real client against local fakes: standby until the reset, what
``pool_status()`` says, the pool budget's clear error, and rate-limit headers steering selection."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from modelmesh import MeshClient, create
from modelmesh.builder import build_mesh
from modelmesh.client import build_config
from modelmesh.testing import FakeProvider, Fault

HELLO = [{"role": "user", "content": "Hello!"}]


def two_providers(openai_fake: FakeProvider, groq_fake: FakeProvider, **extra: Any) -> dict[str, Any]:
    pool = {
        "capability": "chat-completion",
        "strategy": "priority-selection",
        "model_priority": ["gpt-4o", "llama-3.3-70b-versatile"],
        **extra.pop("pool", {}),
    }
    return {
        "providers": {
            "openai": {
                "api_key": openai_fake.api_key,
                "base_url": openai_fake.base_url,
                "models": ["gpt-4o"],
                **extra.pop("openai", {}),
            },
            "groq": {
                "api_key": groq_fake.api_key,
                "base_url": groq_fake.base_url,
                "models": ["llama-3.3-70b-versatile"],
            },
        },
        "pools": {"chat": pool},
        **extra,
    }


def ask(client: Any, **kwargs: Any) -> str:
    response = client.chat.completions.create(model="chat", messages=HELLO, **kwargs)
    return str([c for c in response][-1].model if kwargs.get("stream") else response.model)


def test_a_model_out_of_requests_goes_to_standby_until_its_window_resets(fakes) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes
    quota = {"quota": {"models": {"gpt-4o": [{"requests": 2, "per": "minute"}]}}}
    half_past = 1_700_000_010.0  # 30 s into a UTC minute: the window cannot reset during the test
    config = build_config([], config=two_providers(openai_fake, groq_fake, openai=quota))
    client = MeshClient(build_mesh(config, clock=lambda: half_past))
    assert [ask(client) for _ in range(3)] == ["gpt-4o", "gpt-4o", "llama-3.3-70b-versatile"]
    assert openai_fake.calls() == 2  # the third request never reached it
    status = client.pool_status()["chat"]
    gpt = next(m for m in status.models if m.model == "openai.gpt-4o")
    assert not gpt.active and gpt.reason == "quota: 2 requests per minute (resets each minute) used"
    assert gpt.back_in_s == 30.0
    assert status.active == 1 and status.standby == 1
    client.close()


def test_a_provider_token_quota_counts_reported_usage(fakes) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes
    quota = {"quota": {"reset": "us-pacific-midnight", "limits": [{"tokens": 5, "per": "day"}]}}
    client = create(config=two_providers(openai_fake, groq_fake, openai=quota))
    assert ask(client) == "gpt-4o"  # its usage (7 tokens) spends the day's quota
    assert ask(client, stream=True, stream_options={"include_usage": True}) == "llama-3.3-70b-versatile"
    gpt = next(m for m in client.pool_status()["chat"].models if m.model == "openai.gpt-4o")
    assert "resets at US-Pacific midnight" in (gpt.reason or "") and gpt.back_in_s is not None
    client.close()


def test_a_spent_pool_budget_is_a_clear_429_with_retry_after(fakes) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes
    client = create(
        config=two_providers(openai_fake, groq_fake, pool={"quota": [{"cost_usd": 0.00001, "per": "day"}]})
    )
    assert ask(client) == "gpt-4o"
    calls = openai_fake.calls() + groq_fake.calls()
    with pytest.raises(openai.RateLimitError, match=r"pool 'chat': quota: \$1e-05 per day .* used") as info:
        ask(client)
    assert info.value.code == "pool_quota_exhausted" and int(info.value.response.headers["retry-after"]) >= 1
    assert openai_fake.calls() + groq_fake.calls() == calls
    assert client.usage.by_pool["chat"].requests == 1 and client.usage.by_pool["chat"].cost_usd > 0
    client.close()


def test_failed_attempts_are_not_billed_and_the_caller_sees_who_answered(fakes) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes
    openai_fake.set_outage(Fault.status(503))
    client = create(config=two_providers(openai_fake, groq_fake))
    response = client.chat.completions.create(model="chat", messages=HELLO)
    assert response.model == "llama-3.3-70b-versatile" and response.usage.total_tokens > 0
    assert "openai.gpt-4o" not in client.usage.by_model
    assert client.usage.by_model["groq.llama-3.3-70b-versatile"].total_tokens == response.usage.total_tokens
    client.close()


@pytest.mark.parametrize("strategy", ["rate-limit-aware", "load-balanced"])
def test_rate_limit_headers_steer_selection(fakes, strategy: str) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes
    openai_fake.fail_next(1, Fault.rate_limit_headers(limit_requests=100, remaining_requests=1))
    client = create(config=two_providers(openai_fake, groq_fake, pool={"strategy": strategy}))
    first = ask(client)
    state = client.mesh.store.read_models(["openai.gpt-4o"])["openai.gpt-4o"]
    if first == "gpt-4o":
        assert (state.ratelimit_remaining_requests, state.ratelimit_limit_requests) == (1, 100)
    picks = [ask(client) for _ in range(20)]
    assert picks.count("llama-3.3-70b-versatile") >= 18  # 99 % used: the other model takes the traffic
    client.close()
