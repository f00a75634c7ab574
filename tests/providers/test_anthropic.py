"""Claude through the native Messages dialect, end to end: the OpenAI SDK in front, the Anthropic wire
format behind, failover in both directions between the dialects."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest
from pydantic import BaseModel

from modelmesh import MeshClient
from modelmesh.builder import build_mesh
from modelmesh.client import build_config
from modelmesh.testing import Fault
from modelmesh.transport import MeshTransport
from tests.endpoints.conftest import resolve

HELLO = [{"role": "user", "content": "Hello Claude!"}]
SONNET = "claude-sonnet-4-20250514"
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


# Claude first, then OpenAI (detection alone would put OpenAI, the first preset, first).
ANTHROPIC_FIRST = {
    "pools": {
        "chat-completion": {
            "strategy": "priority-selection",
            "model_priority": [f"anthropic.{SONNET}", "openai.gpt-4o"],
            "retry": {"max_attempts": 1},
        }
    }
}


class Joke(BaseModel):
    setup: str
    punchline: str


async def chat(client: Any, **kwargs: Any) -> Any:
    return await resolve(client.chat.completions.create(model="chat-completion", **kwargs))


async def collect(stream: Any) -> list[Any]:
    if hasattr(stream, "__aiter__"):
        return [chunk async for chunk in stream]
    return list(stream)


async def test_answers_in_the_openai_shape_from_the_messages_api(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("anthropic")
    client = client_for("chat-completion")
    response = await chat(client, messages=HELLO, max_tokens=50)
    assert isinstance(response, openai.types.chat.ChatCompletion)
    assert response.model == SONNET
    assert response.choices[0].message.content == f"Hello from {SONNET}! You said: Hello Claude!"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.prompt_tokens == 2 and response.usage.completion_tokens > 0
    sent = fakes["anthropic"].requests[-1]
    assert sent.path == "/v1/messages"
    assert sent.headers["x-api-key"] == "sk-test-anthropic-endpoints" and "authorization" not in sent.headers
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert sent.json["max_tokens"] == 50


async def test_streams_chat_completion_chunks_with_usage(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    providers("anthropic")
    client = client_for("chat-completion")
    stream = await chat(client, messages=HELLO, stream=True, stream_options={"include_usage": True})
    chunks = await collect(stream)
    assert all(isinstance(c, openai.types.chat.ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == f"Hello from {SONNET}! You said: Hello Claude!"
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == 2
    assert {c.model for c in chunks} == {SONNET}


async def test_system_messages_become_the_system_prompt(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("anthropic")
    client = client_for("chat-completion")
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "developer", "content": "Answer in English."},
        *HELLO,
    ]
    await chat(client, messages=messages)
    sent = fakes["anthropic"].requests[-1].json
    assert sent["system"] == "You are terse.\n\nAnswer in English."
    assert sent["messages"] == [{"role": "user", "content": "Hello Claude!"}]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_tool_call_round_trip(providers, client_for, stream) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("anthropic")
    client = client_for("chat-completion")
    ask = [{"role": "user", "content": "Weather in 'Paris'?"}]
    if stream:
        chunks = await collect(await chat(client, messages=ask, tools=[WEATHER], stream=True))
        calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
        call_id, name = calls[0].id, calls[0].function.name
        arguments = "".join(tc.function.arguments or "" for tc in calls)
        finish = next(c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason)
    else:
        response = await chat(client, messages=ask, tools=[WEATHER])
        call = response.choices[0].message.tool_calls[0]
        call_id, name, arguments = call.id, call.function.name, call.function.arguments
        finish = response.choices[0].finish_reason
    assert (name, finish) == ("get_weather", "tool_calls")
    assert set(json.loads(arguments)) == {"city"}
    sent = fakes["anthropic"].requests[-1].json
    assert sent["tools"][0]["name"] == "get_weather" and "input_schema" in sent["tools"][0]

    history = [
        *ask,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "18 C and sunny"},
    ]
    answer = await chat(client, messages=history, tools=[WEATHER])
    assert answer.choices[0].message.content == f"The tool returned: 18 C and sunny (answered by {SONNET})"
    turns = fakes["anthropic"].requests[-1].json["messages"]
    assert turns[1]["content"][0] == {
        "type": "tool_use",
        "id": call_id,
        "name": name,
        "input": json.loads(arguments),
    }
    assert turns[2]["content"][0] == {
        "type": "tool_result",
        "tool_use_id": call_id,
        "content": "18 C and sunny",
    }


def test_usage_counts_cached_prompt_tokens() -> None:
    """Anthropic reports cache reads apart from fresh input; OpenAI counts them inside prompt_tokens."""
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": SONNET,
        "content": [{"type": "text", "text": "cached"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 10,
            "output_tokens": 5,
            "cache_creation_input_tokens": 20,
            "cache_read_input_tokens": 300,
        },
    }
    upstream = httpx2.MockTransport(lambda request: httpx2.Response(200, json=message))
    config = build_config(["chat-completion"], api_keys={"anthropic": "sk-ant-test-123456"}, environ={})
    mesh = build_mesh(config)
    client = MeshClient(http_client=httpx2.Client(transport=MeshTransport(mesh, http=upstream)))
    response = client.chat.completions.create(model="chat-completion", messages=HELLO)
    assert response.usage.prompt_tokens == 330 and response.usage.completion_tokens == 5
    assert response.usage.prompt_tokens_details.cached_tokens == 300
    assert response.usage.total_tokens == 335


# -- structured output through the forced-tool emulation ------------------------------------------


async def test_parse_returns_the_pydantic_object(providers, client_for, mode) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("anthropic")
    client = client_for("chat-completion")
    ask = [{"role": "user", "content": "Tell a joke with a 'setup' and a 'punchline'."}]
    parsed = await resolve(
        client.chat.completions.parse(model="chat-completion", messages=ask, response_format=Joke)
    )
    joke = parsed.choices[0].message.parsed
    assert isinstance(joke, Joke) and joke.setup and joke.punchline
    assert parsed.model == SONNET
    sent = fakes["anthropic"].requests[-1].json
    assert sent["tool_choice"] == {"type": "tool", "name": "Joke"}  # the schema became a forced tool


async def test_streamed_structured_output(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    providers("anthropic")
    client = client_for("chat-completion")
    ask = [{"role": "user", "content": "A joke, please."}]
    chunks = await collect(
        await chat(
            client,
            messages=ask,
            stream=True,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": "Joke", "schema": Joke.model_json_schema()},
            },
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert Joke.model_validate_json(text)


async def test_json_mode_answers_a_json_object(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    providers("anthropic")
    client = client_for("chat-completion")
    response = await chat(
        client,
        messages=[{"role": "user", "content": "Give 'answer' as JSON"}],
        response_format={"type": "json_object"},
    )
    assert isinstance(json.loads(response.choices[0].message.content), dict)


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 529, 500])
async def test_retryable_errors_fail_over_to_the_next_claude(providers, client_for, status) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("anthropic")
    fakes["anthropic"].set_outage(Fault.status(status), model=SONNET)
    client = client_for("chat-completion")
    raw = await resolve(
        client.chat.completions.with_raw_response.create(model="chat-completion", messages=HELLO)
    )
    assert raw.parse().model == "claude-sonnet-4-5-20250929"
    assert raw.headers["x-modelmesh-failovers"] == "1"


async def test_overloaded_everywhere_raises_the_sdk_error_with_the_attempts(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("anthropic")
    fakes["anthropic"].set_outage(Fault.status(529))
    client = client_for("chat-completion")
    with pytest.raises(openai.APIStatusError) as caught:
        await chat(client, messages=HELLO)
    assert caught.value.status_code == 529
    assert "overloaded" in caught.value.message.lower()
    assert len(caught.value.body["attempts"]) == 8  # 4 Claude models x 2 attempts


async def test_bad_request_is_returned_without_failover(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("anthropic", "openai")
    fakes["anthropic"].fail_next(1, Fault.status(400, message="messages: roles must alternate"))
    client = client_for(config=ANTHROPIC_FIRST)
    with pytest.raises(openai.BadRequestError) as caught:
        await chat(client, messages=HELLO)
    assert "roles must alternate" in caught.value.message
    assert fakes["openai"].calls() == 0


async def test_bad_key_disables_anthropic_and_fails_over_to_openai(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("anthropic", "openai")
    fakes["anthropic"].set_outage(Fault.status(401))
    client = client_for(config=ANTHROPIC_FIRST)
    response = await chat(client, messages=HELLO)
    assert response.model == "gpt-4o"
    assert fakes["anthropic"].calls() == 1  # the whole provider is disabled after one 401
    assert "anthropic" not in client.active_providers()


async def test_bad_key_alone_raises_authentication_error(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("anthropic")
    fakes["anthropic"].set_outage(Fault.status(401))
    client = client_for("chat-completion")
    with pytest.raises(openai.AuthenticationError):
        await chat(client, messages=HELLO)


# -- across dialects -------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
async def test_fails_over_from_anthropic_to_openai_and_back(providers, client_for, stream) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("anthropic", "openai")
    client = client_for(
        config={
            "pools": {
                "chat-completion": {
                    "model_priority": [f"anthropic.{SONNET}", "openai.gpt-4o"],
                    "strategy": "priority-selection",
                    "retry": {"max_attempts": 1},
                    "recovery": {"cooldown_s": 0},
                }
            }
        }
    )

    async def answer() -> str:
        if stream:
            chunks = await collect(await chat(client, messages=HELLO, stream=True))
            return str(chunks[-1].model)
        return str((await chat(client, messages=HELLO)).model)

    fakes["anthropic"].set_outage(Fault.status(503))
    assert await answer() == "gpt-4o"
    fakes["anthropic"].recover()
    fakes["openai"].set_outage(Fault.status(503))
    assert await answer() == SONNET
    fakes["openai"].recover()


async def test_prompt_too_long_moves_to_a_larger_context_window(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("anthropic", "openai")
    fakes["anthropic"].fail_next(1, Fault.context_length())  # "prompt is too long: 210000 tokens > 200000"
    client = client_for(
        config={
            "pools": {
                "chat-completion": {
                    "strategy": "priority-selection",
                    "model_priority": [f"anthropic.{SONNET}", "openai.gpt-4o", "openai.gpt-4.1"],
                }
            }
        }
    )
    response = await chat(client, messages=HELLO)
    assert response.model == "gpt-4.1"  # gpt-4o's 128k window is smaller than Claude's 200k
    assert fakes["openai"].calls("gpt-4o") == 0
