"""Failover under real faults, over real HTTP: sync and async, streamed and not, the same cases."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import openai
import pytest

from modelmesh import StreamInterruptedError, create, create_async
from modelmesh.testing import FakeProvider, Fault

HELLO = [{"role": "user", "content": "Hello!"}]
FAST = {
    "capability": "chat-completion",
    "models": ["gpt-4o", "llama-3.3-70b-versatile"],
    "retry": {"max_attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.02},
    "timeouts": {"connect_s": 1, "read_s": 0.5, "first_token_s": 0.5, "stall_s": 0.5, "total_s": 5},
}


def config(**overrides: Any) -> dict[str, Any]:
    return {"pools": {"chat-completion": {**FAST, **overrides}}}


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=[False, True], ids=["whole", "stream"])
def stream(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def ask(mode: str, stream: bool, **pool: Any) -> tuple[str, str, Any]:
    """One chat request through a fresh client; returns (model, text, client)."""
    if mode == "sync":
        client = create(config=config(**pool))
        if stream:
            chunks = list(
                client.chat.completions.create(model="chat-completion", messages=HELLO, stream=True)
            )
            return (
                chunks[-1].model,
                "".join(c.choices[0].delta.content or "" for c in chunks if c.choices),
                client,
            )
        response = client.chat.completions.create(model="chat-completion", messages=HELLO)
        return response.model, response.choices[0].message.content or "", client

    async def run() -> tuple[str, str, Any]:
        async with create_async(config=config(**pool)) as client:
            if stream:
                result = await client.chat.completions.create(
                    model="chat-completion", messages=HELLO, stream=True
                )
                chunks = [c async for c in result]
                text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
                return chunks[-1].model, text, client
            response = await client.chat.completions.create(model="chat-completion", messages=HELLO)
            return response.model, response.choices[0].message.content or "", client

    return asyncio.run(run())


FAILOVER_FAULTS: dict[str, Callable[[], Fault]] = {
    "503": lambda: Fault.status(503),
    "500": lambda: Fault.status(500),
    "429-long-retry-after": lambda: Fault.status(429, retry_after=30),
    "401": lambda: Fault.status(401),
    "404": lambda: Fault.status(404),
    "connection-reset": Fault.reset,
    "silent-provider": lambda: Fault.latency(3),
}


@pytest.mark.parametrize("fault", list(FAILOVER_FAULTS))
def test_failover_to_the_next_provider(fakes, mode: str, stream: bool, fault: str) -> None:  # type: ignore[no-untyped-def]
    openai_fake, _ = fakes
    openai_fake.set_outage(FAILOVER_FAULTS[fault]())
    model, text, _ = ask(mode, stream)
    assert model == "llama-3.3-70b-versatile"
    assert "Hello!" in text


def test_blip_is_retried_on_the_same_model(fakes, mode: str, stream: bool) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes
    openai_fake.fail_next(1, Fault.status(502))
    model, _, _ = ask(mode, stream)
    assert model == "gpt-4o" and openai_fake.calls() == 2 and groq_fake.calls() == 0


def test_retry_after_is_honoured_on_a_single_model_pool(fakes, mode: str, stream: bool) -> None:  # type: ignore[no-untyped-def]
    openai_fake, _ = fakes
    openai_fake.fail_next(1, Fault.status(429, retry_after=0.2))
    model, _, _ = ask(mode, stream, models=["gpt-4o"])
    assert model == "gpt-4o" and openai_fake.calls() == 2


def test_slow_first_token_fails_over_before_anything_reaches_the_caller(fakes, mode: str) -> None:  # type: ignore[no-untyped-def]
    openai_fake, _ = fakes
    openai_fake.set_outage(Fault.slow_first_token(3))
    model, text, _ = ask(mode, True)
    assert model == "llama-3.3-70b-versatile" and text.startswith("Hello from llama")


def test_stream_cut_before_content_fails_over_transparently(fakes, mode: str) -> None:  # type: ignore[no-untyped-def]
    openai_fake, _ = fakes
    openai_fake.set_outage(Fault.cut(after_events=1))  # only the role chunk got through
    model, text, _ = ask(mode, True)
    assert model == "llama-3.3-70b-versatile" and text.startswith("Hello from llama")


def test_stream_cut_after_content_is_never_presented_as_complete(fakes, mode: str) -> None:  # type: ignore[no-untyped-def]
    openai_fake, _ = fakes
    openai_fake.set_outage(Fault.cut(after_events=3))
    with pytest.raises(StreamInterruptedError) as info:
        ask(mode, True)
    assert isinstance(info.value, openai.APIError)
    assert info.value.model == "gpt-4o" and info.value.partial_text.startswith("Hello")


def test_stall_after_content_raises_a_clear_error(fakes, mode: str) -> None:  # type: ignore[no-untyped-def]
    openai_fake, _ = fakes
    openai_fake.set_outage(Fault.stall(after_events=3, seconds=3))
    with pytest.raises(StreamInterruptedError, match="incomplete"):
        ask(mode, True)


def test_malformed_event_is_skipped(fakes, mode: str) -> None:  # type: ignore[no-untyped-def]
    openai_fake, _ = fakes
    openai_fake.set_outage(Fault.malformed(after_events=2))
    model, text, _ = ask(mode, True)
    assert model == "gpt-4o" and "Hello!" in text


def test_stream_without_done_is_finalised_at_its_finish_reason(fakes, mode: str) -> None:  # type: ignore[no-untyped-def]
    openai_fake, _ = fakes
    openai_fake.set_outage(Fault.no_done())  # the fake then holds the connection open for ~30 s
    model, text, _ = ask(mode, True)
    assert model == "gpt-4o" and "Hello!" in text


def test_auth_failure_deactivates_the_whole_provider(fakes, mode: str, stream: bool) -> None:  # type: ignore[no-untyped-def]
    openai_fake, _ = fakes
    openai_fake.set_outage(Fault.status(401))
    _, _, client = ask(mode, stream, models=["gpt-4o", "gpt-4o-mini", "llama-3.3-70b-versatile"])
    status = client.pool_status()["chat-completion"]
    assert status.active == 1 and status.current_model == "llama-3.3-70b-versatile"
    assert openai_fake.calls() == 1  # gpt-4o-mini was never tried: its provider is out


def test_every_provider_failing_surfaces_the_real_openai_exception_with_attempts(
    fakes, mode: str, stream: bool
) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes
    openai_fake.set_outage(Fault.status(503))
    groq_fake.set_outage(Fault.status(429, retry_after=30))
    with pytest.raises(openai.RateLimitError) as info:
        ask(mode, stream)
    attempts = info.value.body["attempts"]
    assert [a["model"] for a in attempts] == [
        "openai.gpt-4o",
        "openai.gpt-4o",
        "groq.llama-3.3-70b-versatile",
    ]
    assert info.value.response.headers["retry-after"] == "30"


def test_timeouts_everywhere_surface_as_api_timeout_error(fakes, mode: str, stream: bool) -> None:  # type: ignore[no-untyped-def]
    for fake in fakes:
        fake.set_outage(Fault.latency(3))
    with pytest.raises(openai.APITimeoutError):
        ask(mode, stream, retry={"max_attempts": 1})


def test_caller_errors_are_not_retried_or_failed_over(fakes, mode: str, stream: bool) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes
    openai_fake.set_outage(Fault.content_policy())
    with pytest.raises(openai.BadRequestError):
        ask(mode, stream)
    assert openai_fake.calls() == 1 and groq_fake.calls() == 0


def test_context_length_error_moves_to_a_larger_model(fakes, mode: str, stream: bool) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes
    openai_fake.set_outage(Fault.context_length())  # gpt-4o: 128,000 tokens
    model, _, _ = ask(mode, stream, models=["gpt-4o", "gpt-4o-mini", "llama-3.3-70b-versatile"])
    assert model == "llama-3.3-70b-versatile"  # 131,072 tokens; gpt-4o-mini (128,000) is skipped
    assert openai_fake.calls() == 1 and groq_fake.calls() == 1


def test_sync_client_works_inside_a_running_event_loop(fakes) -> None:  # type: ignore[no-untyped-def]
    async def notebook_cell() -> str:
        client = create(config=config())  # a Jupyter cell: a loop is running, the sync client is used
        return client.chat.completions.create(model="chat-completion", messages=HELLO).model

    assert asyncio.run(notebook_cell()) == "gpt-4o"


def test_routing_headers_are_exposed_through_raw_responses(fakes) -> None:  # type: ignore[no-untyped-def]
    openai_fake, _ = fakes
    openai_fake.set_outage(Fault.status(503))
    client = create(config=config())
    raw = client.chat.completions.with_raw_response.create(model="chat-completion", messages=HELLO)
    assert raw.headers["x-modelmesh-provider"] == "groq"
    assert raw.headers["x-modelmesh-failovers"] == "1" and raw.headers["x-modelmesh-attempts"] == "3"
    assert raw.parse().model == "llama-3.3-70b-versatile"


def test_tools_and_structured_output_pass_through(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create(config=config())
    tools = [
        {
            "type": "function",
            "function": {
                "name": "magic_function",
                "description": "Magic.",
                "parameters": {
                    "type": "object",
                    "properties": {"input": {"type": "integer"}},
                    "required": ["input"],
                },
            },
        }
    ]
    response = client.chat.completions.create(
        model="chat-completion",
        messages=[{"role": "user", "content": "What is magic_function(3)?"}],
        tools=tools,
    )
    call = response.choices[0].message.tool_calls[0]
    assert call.function.name == "magic_function" and json.loads(call.function.arguments) == {"input": 3}
    schema = {
        "type": "object",
        "properties": {"answer": {"type": "string"}},
        "required": ["answer"],
        "additionalProperties": False,
    }
    parsed = client.chat.completions.parse(
        model="chat-completion",
        messages=HELLO,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "A", "schema": schema, "strict": True},
        },
    )
    assert "answer" in json.loads(parsed.choices[0].message.content)


def test_stream_usage_is_reported_when_asked(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create(config=config())
    chunks = list(
        client.chat.completions.create(
            model="chat-completion", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens > 0
    assert client.usage.by_model["openai.gpt-4o"].completion_tokens == chunks[-1].usage.completion_tokens


def test_anthropic_native_dialect_in_a_pool(anthropic_fake: FakeProvider, mode: str, stream: bool) -> None:
    anthropic_fake.reset()
    cfg = {
        "providers": {
            "anthropic": {
                "api_key": anthropic_fake.api_key,
                "base_url": anthropic_fake.base_url,
                "models": ["claude-sonnet-4-20250514"],
            }
        },
        "pools": {"chat-completion": {"capability": "chat-completion"}},
    }
    if mode == "sync":
        client = create(config=cfg)
        if stream:
            chunks = list(
                client.chat.completions.create(model="chat-completion", messages=HELLO, stream=True)
            )
            assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).startswith("Hello")
            assert chunks[-1].choices[0].finish_reason == "stop"
        else:
            response = client.chat.completions.create(model="chat-completion", messages=HELLO)
            assert response.model == "claude-sonnet-4-20250514" and response.usage.total_tokens > 0
    else:

        async def run() -> None:
            async with create_async(config=cfg) as client:
                response = await client.chat.completions.create(
                    model="chat-completion", messages=HELLO, stream=stream
                )
                if stream:
                    chunks = [c async for c in response]
                    assert chunks[-1].choices[0].finish_reason == "stop"
                else:
                    assert response.model == "claude-sonnet-4-20250514"

        asyncio.run(run())
