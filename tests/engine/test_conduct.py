"""Failover conduct over real sockets: a silent provider is paid for once, benched pools still answer
(panic mode), our own connection pool never blames a provider, and no connector hook can make an
exception escape that is not the ``openai`` SDK's."""

from __future__ import annotations

import asyncio
from typing import Any

import openai
import pytest

from modelmesh import StreamInterruptedError, create, create_async
from modelmesh.connectors.base import Connector
from modelmesh.testing import FakeProvider, Fault
from tests.conftest import groq_and_openai
from tests.engine.scripted import Script, ScriptedServer

HELLO = [{"role": "user", "content": "Hello!"}]
CLAUDE = "claude-sonnet-4-20250514"
QUICK = {"connect_s": 1, "read_s": 0.5, "first_token_s": 0.5, "stall_s": 0.5, "total_s": 5}


def pool(models: list[str], **settings: Any) -> dict[str, Any]:
    return {
        "capability": "chat-completion",
        "strategy": "priority-selection",
        "model_priority": models,
        "retry": {"max_attempts": 1},
        "timeouts": QUICK,
        **settings,
    }


def test_a_silent_provider_with_four_models_is_paid_for_once(openai_fake: FakeProvider) -> None:
    openai_fake.reset()
    silent_models = ["llama-3.3-70b-versatile", "llama-3.1-8b-instant", "gemma2-9b-it", "mixtral-8x7b-32768"]
    with ScriptedServer(Script.silent()) as silent:
        providers = {
            "groq": {"api_key": "gsk-silent-1234", "base_url": silent.base_url, "models": silent_models},
            "openai": {
                "api_key": openai_fake.api_key,
                "base_url": openai_fake.base_url,
                "models": ["gpt-4o"],
            },
        }
        models = [f"groq.{m}" for m in silent_models] + ["openai.gpt-4o"]
        client = create(config={"providers": providers, "pools": {"chat-completion": pool(models)}})
        answers = [
            client.chat.completions.create(model="chat-completion", messages=HELLO).model for _ in range(10)
        ]
        client.close()
        assert silent.requests == 1
    assert answers == ["gpt-4o"] * 10


def test_a_pool_benched_for_failures_still_answers_what_it_can(
    openai_fake: FakeProvider, groq_fake: FakeProvider
) -> None:
    openai_fake.reset()
    groq_fake.reset()
    groq_fake.set_outage(Fault.status(503))
    openai_fake.script([Fault.status(503), None] * 20)  # answers every other request
    providers = groq_and_openai(openai_fake, groq_fake)
    settings = pool(["groq.llama-3.1-8b-instant", "openai.gpt-4o"], deactivation={"failure_threshold": 1})
    client = create(config={"providers": providers, "pools": {"chat-completion": settings}})
    outcomes = []
    for _ in range(20):
        try:
            client.chat.completions.create(model="chat-completion", messages=HELLO)
            outcomes.append("ok")
        except openai.APIStatusError as exc:
            outcomes.append(str(exc.status_code))
    client.close()
    groq_fake.recover()
    assert 7 <= outcomes.count("ok") <= 13, outcomes
    assert openai_fake.calls() == 20  # every request was tried, none refused at once


async def test_300_concurrent_streams_all_complete_without_benching(openai_fake: FakeProvider) -> None:
    openai_fake.reset()
    openai_fake.set_outage(Fault.slow_first_token(0.3))
    providers = {
        "openai": {"api_key": openai_fake.api_key, "base_url": openai_fake.base_url, "models": ["gpt-4o"]}
    }
    timeouts = {"connect_s": 1, "read_s": 10, "first_token_s": 10, "stall_s": 10, "total_s": 30}
    settings = pool(["openai.gpt-4o"], timeouts=timeouts)
    async with create_async(
        config={"providers": providers, "pools": {"chat-completion": settings}}
    ) as client:

        async def one() -> str:
            stream = await client.chat.completions.create(
                model="chat-completion", messages=HELLO, stream=True
            )
            return "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])

        texts = await asyncio.gather(*(one() for _ in range(300)))
        status = client.pool_status()["chat-completion"]
    openai_fake.recover()
    assert all(texts) and len(texts) == 300
    assert status.standby == 0


# Each hook on the path where it runs: (hook, streamed).
HOOKS = [
    ("build_request", False),
    ("build_request", True),
    ("classify", False),
    ("classify", True),
    ("translate_response", False),
    ("stream_translator", True),
    ("feed", True),
]


class _Exploding:
    """The Anthropic connector with one hook that raises something no code path expects."""

    def __init__(self, inner: Connector, hook: str) -> None:
        self._inner, self._hook = inner, hook
        self.passthrough = inner.passthrough

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name == self._hook:
            return _boom
        if name == "stream_translator" and self._hook == "feed":
            return lambda *args: _ExplodingTranslator()
        return attribute


class _ExplodingTranslator:
    finished = False

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        raise KeyError("a translator bug")


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("an unexpected bug in a connector hook")


@pytest.mark.parametrize(("hook", "stream"), HOOKS)
@pytest.mark.parametrize("second", [True, False], ids=["with-fallback", "alone"])
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_an_exception_in_any_connector_hook_never_escapes_as_itself(
    hook: str, stream: bool, second: bool, mode: str, anthropic_fake: FakeProvider, openai_fake: FakeProvider
) -> None:
    anthropic_fake.reset()
    openai_fake.reset()
    if hook == "classify":
        anthropic_fake.set_outage(Fault.status(500))
    providers: dict[str, Any] = {
        "anthropic": {
            "api_key": anthropic_fake.api_key,
            "base_url": anthropic_fake.host_url,
            "models": [CLAUDE],
        }
    }
    models = [f"anthropic.{CLAUDE}"]
    if second:
        providers["openai"] = {
            "api_key": openai_fake.api_key,
            "base_url": openai_fake.base_url,
            "models": ["gpt-4o"],
        }
        models.append("openai.gpt-4o")
    # Generous timeouts: this test is about exceptions, not time, and must not flake on a busy machine.
    timeouts = {"connect_s": 5, "read_s": 10, "first_token_s": 10, "stall_s": 10, "total_s": 30}
    config = {"providers": providers, "pools": {"chat-completion": pool(models, timeouts=timeouts)}}

    async def ask_async() -> str:
        async with create_async(config=config) as client:
            connectors = client.mesh.env.connectors
            connectors["anthropic"] = _Exploding(connectors["anthropic"], hook)  # type: ignore[assignment]
            if stream:
                result = await client.chat.completions.create(
                    model="chat-completion", messages=HELLO, stream=True
                )
                return [c async for c in result][-1].model
            return (await client.chat.completions.create(model="chat-completion", messages=HELLO)).model

    def ask() -> str:
        client = create(config=config)
        connectors = client.mesh.env.connectors
        connectors["anthropic"] = _Exploding(connectors["anthropic"], hook)  # type: ignore[assignment]
        try:
            if stream:
                return list(
                    client.chat.completions.create(model="chat-completion", messages=HELLO, stream=True)
                )[-1].model
            return client.chat.completions.create(model="chat-completion", messages=HELLO).model
        finally:
            client.close()

    try:
        answered: Any = ask() if mode == "sync" else asyncio.run(ask_async())
    except openai.OpenAIError as exc:
        answered = exc
    finally:
        anthropic_fake.recover()
    if second:
        assert answered == "gpt-4o"
    else:
        assert isinstance(answered, openai.APIError) and not isinstance(answered, StreamInterruptedError)
