"""FakeProvider: addresses, records, fault scripting, custom responders, fake_providers()."""

from __future__ import annotations

import threading
from typing import Any

import openai
import pytest

from modelmesh.testing import FakeProvider, Fault, Reply, ToolCall, fake_providers

CHAT: dict[str, Any] = {"model": "alpha-small", "messages": [{"role": "user", "content": "hi"}]}


def test_defaults_and_addresses() -> None:
    provider = FakeProvider(name="zed")
    assert (provider.models, provider.api_key, provider.dialect) == (["zed-model"], "sk-test-zed", "openai")
    with pytest.raises(RuntimeError, match="not started"):
        _ = provider.base_url
    with provider:
        assert provider.base_url == f"http://127.0.0.1:{provider.port}/v1"
        assert provider.env("OPENAI") == {
            "OPENAI_API_KEY": "sk-test-zed",
            "OPENAI_BASE_URL": provider.base_url,
        }
        assert "zed" in repr(provider)


def test_unknown_dialect_is_rejected() -> None:
    with pytest.raises(ValueError, match="dialect"):
        FakeProvider(dialect="gemini")  # type: ignore[arg-type]


def test_requests_are_recorded(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    client.models.list()
    client.chat.completions.create(**CHAT)
    client.chat.completions.create(**{**CHAT, "model": "alpha-large"}, stream=True).close()
    listing, chat, streamed = openai_fake.requests
    assert (listing.method, listing.path, listing.model, listing.json) == ("GET", "/v1/models", None, None)
    assert chat.path == "/v1/chat/completions"
    assert chat.headers["authorization"] == f"Bearer {openai_fake.api_key}"
    assert chat.json == CHAT and not chat.is_stream
    assert streamed.is_stream and streamed.model == "alpha-large"
    assert (openai_fake.calls(), openai_fake.calls("alpha-small"), openai_fake.calls("alpha-large")) == (
        2,
        1,
        1,
    )


def test_reset_forgets_requests_and_faults(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    client.chat.completions.create(**CHAT)
    openai_fake.set_outage(Fault.status(503))
    openai_fake.reset()
    assert openai_fake.requests == []
    client.chat.completions.create(**CHAT)
    assert openai_fake.calls() == 1


def test_fail_next_for_one_model(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    openai_fake.fail_next(2, Fault.status(500), model="alpha-large")
    client.chat.completions.create(**CHAT)
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(**{**CHAT, "model": "alpha-large"})
    client.chat.completions.create(**{**CHAT, "model": "alpha-large"})
    assert openai_fake.calls("alpha-large") == 3


def test_outage_until_recover(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    openai_fake.set_outage(Fault.status(503))
    for _ in range(3):
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(**CHAT)
    with pytest.raises(openai.InternalServerError):
        client.models.list()
    openai_fake.recover()
    assert client.chat.completions.create(**CHAT).choices


def test_script_one_entry_per_request(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    openai_fake.script([Fault.status(429), None, Fault.reset()])
    outcomes = []
    for _ in range(4):
        try:
            client.chat.completions.create(**CHAT)
            outcomes.append("ok")
        except openai.APIError as exc:
            outcomes.append(type(exc).__name__)
    assert outcomes == ["RateLimitError", "ok", "APIConnectionError", "ok"]


def test_custom_responder_gets_the_request_and_model(
    openai_fake: FakeProvider, client: openai.OpenAI
) -> None:
    seen: list[tuple[dict[str, Any], str]] = []

    def responder(request: dict[str, Any], model: str) -> Reply:
        seen.append((request, model))
        return Reply(text="custom", tool_calls=[ToolCall("f", {"x": 1}, id="call_1")])

    openai_fake.responder = responder
    message = client.chat.completions.create(**CHAT).choices[0]
    assert message.message.content == "custom"
    assert message.finish_reason == "tool_calls"
    assert (message.message.tool_calls or [])[0].id == "call_1"
    assert seen == [(CHAT, "alpha-small")]


def test_concurrent_requests_are_all_recorded(openai_fake: FakeProvider) -> None:
    def work() -> None:
        with openai.OpenAI(base_url=openai_fake.base_url, api_key=openai_fake.api_key, max_retries=0) as c:
            for _ in range(5):
                c.chat.completions.create(**CHAT)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert openai_fake.calls() == 20
    assert len({r.headers["x-stainless-retry-count"] for r in openai_fake.requests}) == 1


def test_fake_providers_by_count() -> None:
    with fake_providers(3) as (a, b, c):
        assert [p.name for p in (a, b, c)] == ["fake-1", "fake-2", "fake-3"]
        assert c.models == ["fake-3-model"]
        assert len({a.port, b.port, c.port}) == 3
        assert all(p.is_running for p in (a, b, c))
    assert not any(p.is_running for p in (a, b, c))


def test_fake_providers_from_specs() -> None:
    specs = [{"name": "x", "models": ["x1"]}, {"dialect": "openai"}]
    with fake_providers(specs, dialect="anthropic") as (x, second):
        assert (x.name, x.dialect, x.models) == ("x", "anthropic", ["x1"])
        assert (second.name, second.dialect) == ("fake-2", "openai")


def test_fakes_fail_over_independently() -> None:
    with fake_providers(2) as (primary, backup):
        primary.set_outage(Fault.status(503))
        answers = []
        for provider in (primary, backup):
            with openai.OpenAI(base_url=provider.base_url, api_key=provider.api_key, max_retries=0) as c:
                try:
                    answers.append(
                        c.chat.completions.create(model=provider.models[0], messages=CHAT["messages"])
                    )
                except openai.InternalServerError:
                    continue
        assert [a.model for a in answers] == ["fake-2-model"]
        assert (primary.calls(), backup.calls()) == (1, 1)
