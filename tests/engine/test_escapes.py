"""Failures that used to escape failover (issue: the routing engine, rebuilt): each one must be answered
by the next model, or end in an ``openai`` exception that names what happened."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import openai
import pytest

from modelmesh import StreamInterruptedError, create, create_async
from modelmesh.testing import FakeProvider
from tests.engine.scripted import Script, ScriptedServer, anthropic_event, openai_chunk

HELLO = [{"role": "user", "content": "Hello!"}]
CLAUDE = "claude-sonnet-4-20250514"
ANTHROPIC_KEY = "sk-ant-test-123456"  # the session fake's key (tests/conftest.py)
FAST = {"max_attempts": 1, "backoff_base_s": 0.01, "backoff_max_s": 0.02}
TIMEOUTS = {"connect_s": 1, "read_s": 1, "first_token_s": 1, "stall_s": 0.6, "total_s": 5}


def mesh_config(first: tuple[str, str], second: FakeProvider | None, **pool: Any) -> dict[str, Any]:
    """``first`` = (dialect, base URL) of the provider tried first; ``second`` an OpenAI-dialect fake."""
    dialect, url = first
    providers: dict[str, Any] = {}
    if dialect == "anthropic":
        providers["anthropic"] = {"api_key": ANTHROPIC_KEY, "base_url": url, "models": [CLAUDE]}
        models = [f"anthropic.{CLAUDE}"]
    else:
        providers["groq"] = {
            "api_key": "gsk-escape-1234",
            "base_url": url,
            "models": ["llama-3.3-70b-versatile"],
        }
        models = ["groq.llama-3.3-70b-versatile"]
    if second is not None:
        providers["openai"] = {"api_key": second.api_key, "base_url": second.base_url, "models": ["gpt-4o"]}
        models.append("openai.gpt-4o")
    settings = {
        "capability": "chat-completion",
        "strategy": "priority-selection",
        "model_priority": models,
        "retry": FAST,
        "timeouts": TIMEOUTS,
        **pool,
    }
    return {"providers": providers, "pools": {"chat-completion": settings}}


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def ask(mode: str, config: dict[str, Any], *, stream: bool, **kwargs: Any) -> tuple[str, str]:
    """One chat request; returns (answering model, text)."""
    if mode == "sync":
        client = create(config=config)
        try:
            if stream:
                chunks = list(
                    client.chat.completions.create(
                        model="chat-completion", messages=HELLO, stream=True, **kwargs
                    )
                )
                text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                return chunks[-1].model, text
            r = client.chat.completions.create(model="chat-completion", messages=HELLO, **kwargs)
            return r.model, r.choices[0].message.content or ""
        finally:
            client.close()

    async def run() -> tuple[str, str]:
        async with create_async(config=config) as client:
            if stream:
                result = await client.chat.completions.create(
                    model="chat-completion", messages=HELLO, stream=True, **kwargs
                )
                chunks = [c async for c in result]
                text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                return chunks[-1].model, text
            r = await client.chat.completions.create(model="chat-completion", messages=HELLO, **kwargs)
            return r.model, r.choices[0].message.content or ""

    return asyncio.run(run())


@pytest.fixture
def openai_second(openai_fake: FakeProvider) -> FakeProvider:
    openai_fake.reset()
    return openai_fake


def _message_start() -> bytes:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": CLAUDE,
        "content": [],
        "usage": {"input_tokens": 3, "output_tokens": 0},
    }
    return anthropic_event("message_start", {"message": message})


def _text_block(text: str) -> bytes:
    start = anthropic_event(
        "content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}}
    )
    delta = anthropic_event(
        "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": text}}
    )
    return start + delta


def _overloaded() -> bytes:
    return anthropic_event("error", {"error": {"type": "overloaded_error", "message": "Overloaded"}})


def _finish() -> bytes:
    return (
        anthropic_event("content_block_stop", {"index": 0})
        + anthropic_event(
            "message_delta", {"delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 2}}
        )
        + anthropic_event("message_stop", {})
    )


def test_anthropic_stream_error_before_content_fails_over(mode: str, openai_second: FakeProvider) -> None:
    with ScriptedServer(Script.sse(_message_start() + _overloaded())) as claude:
        model, text = ask(mode, mesh_config(("anthropic", claude.base_url), openai_second), stream=True)
    assert model == "gpt-4o" and text
    assert openai_second.calls() == 1


def test_anthropic_stream_error_after_content_is_an_interruption(mode: str) -> None:
    with ScriptedServer(
        Script.sse(_message_start() + _text_block("Partial an"), 0.05, _overloaded())
    ) as claude:
        config = mesh_config(("anthropic", claude.base_url), None)
        with pytest.raises(StreamInterruptedError) as caught:
            ask(mode, config, stream=True)
    assert caught.value.partial_text == "Partial an"
    assert "Overloaded" in str(caught.value)


def test_interrupted_anthropic_stream_is_recorded_against_the_model() -> None:
    with ScriptedServer(Script.sse(_message_start() + _text_block("Partial"), 0.05, _overloaded())) as claude:
        client = create(config=mesh_config(("anthropic", claude.base_url), None))
        with pytest.raises(StreamInterruptedError):
            list(client.chat.completions.create(model="chat-completion", messages=HELLO, stream=True))
        state = client.mesh.store.read_models([f"anthropic.{CLAUDE}"])[f"anthropic.{CLAUDE}"]
        client.close()
    assert state.failures == 1


def test_malformed_anthropic_event_is_skipped(mode: str) -> None:
    bad = b"event: content_block_delta\ndata: {not json\n\n"
    with ScriptedServer(Script.sse(_message_start() + _text_block("Hello") + bad + _finish())) as claude:
        model, text = ask(mode, mesh_config(("anthropic", claude.base_url), None), stream=True)
    assert (model, text) == (CLAUDE, "Hello")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_request_anthropic_cannot_express_fails_over(
    mode: str, stream: bool, anthropic_fake: FakeProvider, openai_second: FakeProvider
) -> None:
    anthropic_fake.reset()
    config = mesh_config(("anthropic", anthropic_fake.host_url), openai_second)
    model, _ = ask(mode, config, stream=stream, n=2)
    assert model == "gpt-4o"
    assert anthropic_fake.calls() == 0


def test_request_no_model_can_express_is_a_400_naming_why(mode: str, anthropic_fake: FakeProvider) -> None:
    anthropic_fake.reset()
    config = mesh_config(("anthropic", anthropic_fake.host_url), None)
    with pytest.raises(openai.BadRequestError) as caught:
        ask(mode, config, stream=False, n=2)
    assert "n=2" in str(caught.value) or "choices" in str(caught.value)


def test_reset_while_reading_an_error_body_fails_over(mode: str, openai_second: FakeProvider) -> None:
    script = Script(
        503, {"content-type": "application/json", "content-length": "400"}, [b'{"error": {', None]
    )
    with ScriptedServer(script) as groq:
        model, _ = ask(mode, mesh_config(("openai", groq.base_url), openai_second), stream=False)
    assert model == "gpt-4o"


@pytest.mark.parametrize(
    "body",
    [
        b'{"error": {"message": "upstream exploded", "type": "server_error"}}',
        b'{"id": "x", "object": "chat.completion"}',
    ],
    ids=["error-object", "no-choices"],
)
def test_a_2xx_that_is_not_an_answer_fails_over(mode: str, body: bytes, openai_second: FakeProvider) -> None:
    with ScriptedServer(Script.json(body)) as groq:
        model, _ = ask(mode, mesh_config(("openai", groq.base_url), openai_second), stream=False)
    assert model == "gpt-4o"


def test_keepalives_after_content_end_by_the_stall_timeout(mode: str) -> None:
    keepalives: list[bytes | float | None] = [openai_chunk("Hel")]
    keepalives += [b": keep-alive\n\n", 0.1] * 200  # 20 s of comments, never progress
    with ScriptedServer(Script.sse(*keepalives)) as groq:
        config = mesh_config(("openai", groq.base_url), None)
        started = time.monotonic()
        with pytest.raises(StreamInterruptedError) as caught:
            ask(mode, config, stream=True)
    assert time.monotonic() - started < 3.0  # stall_s is 0.6
    assert caught.value.partial_text == "Hel"


def test_empty_deltas_after_content_end_by_the_stall_timeout(mode: str) -> None:
    steps: list[bytes | float | None] = [openai_chunk("Hel")]
    steps += [openai_chunk(None), 0.1] * 200
    with ScriptedServer(Script.sse(*steps)) as groq:
        started = time.monotonic()
        with pytest.raises(StreamInterruptedError):
            ask(mode, mesh_config(("openai", groq.base_url), None), stream=True)
    assert time.monotonic() - started < 3.0


def test_trickled_body_ends_by_total_s(mode: str) -> None:
    choice = {"index": 0, "message": {"role": "assistant", "content": "slow"}, "finish_reason": "stop"}
    body = json.dumps(
        {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]}
    )
    steps: list[bytes | float | None] = []
    for byte in body.encode():
        steps += [bytes([byte]), 0.2]  # ~30 s in all
    script = Script(200, {"content-type": "application/json", "content-length": str(len(body))}, steps)
    with ScriptedServer(script) as groq:
        config = mesh_config(("openai", groq.base_url), None, timeouts={**TIMEOUTS, "total_s": 1.5})
        started = time.monotonic()
        with pytest.raises(openai.APITimeoutError):
            ask(mode, config, stream=False)
    assert time.monotonic() - started < 4.0
