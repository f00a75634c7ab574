"""The caller's timeout is the request's deadline: the SDK's ``timeout`` (client default, ``with_options``,
per request) bounds the whole routed request, together with the pool's ``timeouts.total_s``."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest

from modelmesh import MeshClient, create, create_async
from modelmesh.testing import FakeProvider
from tests.engine.scripted import Script, ScriptedServer

HELLO = [{"role": "user", "content": "Hello!"}]
SLOW_POOL = {"connect_s": 5, "read_s": 60, "first_token_s": 60, "stall_s": 60, "total_s": 120}


def config(silent_url: str, healthy: FakeProvider | None = None) -> dict[str, Any]:
    providers: dict[str, Any] = {
        "groq": {"api_key": "gsk-silent-1234", "base_url": silent_url, "models": ["llama-3.3-70b-versatile"]}
    }
    models = ["groq.llama-3.3-70b-versatile"]
    if healthy is not None:
        providers["openai"] = {"api_key": healthy.api_key, "base_url": healthy.base_url, "models": ["gpt-4o"]}
        models.append("openai.gpt-4o")
    pool = {
        "capability": "chat-completion",
        "strategy": "priority-selection",
        "model_priority": models,
        "retry": {"max_attempts": 1},
        "timeouts": SLOW_POOL,
    }
    return {"providers": providers, "pools": {"chat-completion": pool}}


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[False, True], ids=["whole", "stream"])
def stream(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def timed_ask(
    mode: str, cfg: dict[str, Any], how: str, stream: bool, budget: float = 2.0
) -> tuple[float, Any]:
    """(seconds, answering model or the exception) for one request with a ``budget`` s caller timeout."""

    def sync() -> Any:
        made = create(config=cfg)
        client = made if how != "client" else MeshClient(made.mesh, timeout=budget)
        scoped = client.with_options(timeout=budget) if how == "with_options" else client
        extra = {"timeout": budget} if how == "per_request" else {}
        try:
            result = scoped.chat.completions.create(
                model="chat-completion", messages=HELLO, stream=stream, **extra
            )
            return list(result)[-1].model if stream else result.model
        finally:
            client.close()

    async def run_async() -> Any:
        async with create_async(config=cfg) as client:
            scoped = client.with_options(timeout=budget) if how in ("with_options", "client") else client
            extra = {"timeout": budget} if how == "per_request" else {}
            result = await scoped.chat.completions.create(
                model="chat-completion", messages=HELLO, stream=stream, **extra
            )
            return [c async for c in result][-1].model if stream else result.model

    started = time.monotonic()
    try:
        outcome = sync() if mode == "sync" else asyncio.run(run_async())
    except openai.OpenAIError as exc:
        outcome = exc
    return time.monotonic() - started, outcome


def test_caller_timeout_bounds_a_silent_provider(mode: str, stream: bool) -> None:
    """The issue's own case: ``with_options(timeout=2)`` raises ``APITimeoutError`` within 2.5 s."""
    with ScriptedServer(Script.silent()) as silent:
        elapsed, outcome = timed_ask(mode, config(silent.base_url), "with_options", stream)
    assert isinstance(outcome, openai.APITimeoutError)
    assert 1.9 < elapsed < 2.5


@pytest.mark.parametrize("how", ["per_request", "client"])
def test_every_way_of_setting_the_timeout_bounds_a_silent_provider(mode: str, stream: bool, how: str) -> None:
    """The client default and the per-request timeout bound the request the same way (a shorter budget)."""
    with ScriptedServer(Script.silent()) as silent:
        elapsed, outcome = timed_ask(mode, config(silent.base_url), how, stream, budget=0.5)
    assert isinstance(outcome, openai.APITimeoutError)
    assert 0.45 < elapsed < 1.0


def test_caller_timeout_leaves_room_to_fail_over(mode: str, stream: bool, openai_fake: FakeProvider) -> None:
    openai_fake.reset()
    with ScriptedServer(Script.silent()) as silent:
        elapsed, outcome = timed_ask(mode, config(silent.base_url, openai_fake), "with_options", stream)
    assert outcome == "gpt-4o"
    assert elapsed < 2.5


def test_client_timeout_reports_what_applies() -> None:
    with ScriptedServer(Script.silent()) as silent:
        client = create(config=config(silent.base_url))
        assert client.timeout == 120  # the pool's total_s
        assert client.with_options(timeout=2).timeout == 2
        assert MeshClient(client.mesh, timeout=3).timeout == 3
        client.close()


def test_a_hanging_connect_leaves_room_to_fail_over(mode: str, openai_fake: FakeProvider) -> None:
    """A connect that never completes (here: a TLS handshake never answered) may not spend the caller's
    whole budget while another model could still answer; it gets the same share a silent read does."""
    openai_fake.reset()
    with ScriptedServer(Script.silent()) as silent:
        hanging = silent.base_url.replace("http://", "https://")
        elapsed, outcome = timed_ask(mode, config(hanging, openai_fake), "with_options", False, budget=1.5)
    assert outcome == "gpt-4o"
    assert elapsed < 1.5
