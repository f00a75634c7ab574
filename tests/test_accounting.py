"""Accounting labels say what happened: a request naming a real model books under that model's pool, and
``pool_status().current_model`` under cost-first names the model that answers."""

from __future__ import annotations

from modelmesh import create
from modelmesh.testing import FakeProvider

HELLO = [{"role": "user", "content": "Hello!"}]
MODELS = ["gpt-4o", "gpt-4o-mini"]


def test_a_request_naming_a_real_model_is_booked_under_its_pool(openai_fake: FakeProvider) -> None:
    openai_fake.reset()
    provider = {
        "api_key": openai_fake.api_key,
        "base_url": openai_fake.base_url,
        "models": ["gpt-4o", "gpt-4o-mini"],
    }
    client = create(
        config={"providers": {"openai": provider}, "pools": {"chat": {"capability": "chat-completion"}}}
    )
    client.chat.completions.create(model="gpt-4o-mini", messages=HELLO)
    client.close()
    assert set(client.usage.by_pool) == {"chat"}
    assert client.usage.by_model["openai.gpt-4o-mini"].requests == 1


def test_cost_first_reports_the_model_that_answers(openai_fake: FakeProvider) -> None:
    openai_fake.reset()
    provider = {
        "api_key": openai_fake.api_key,
        "base_url": openai_fake.base_url,
        "models": ["gpt-4o", "gpt-4o-mini"],
    }
    pools = {"chat": {"capability": "chat-completion", "strategy": "cost-first"}}
    client = create(config={"providers": {"openai": provider}, "pools": pools})
    answered = client.chat.completions.create(model="chat", messages=HELLO).model
    current = client.pool_status()["chat"].current_model
    client.close()
    assert answered == "gpt-4o-mini"  # the cheaper one
    assert current == answered
