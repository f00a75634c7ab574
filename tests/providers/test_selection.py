"""Capability-aware selection through the client: a request goes only to models that support what it
uses, and when none can, a 400 names what is missing. Context overflows move to a larger window."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from modelmesh.testing import Fault
from tests.endpoints.conftest import resolve

HELLO = [{"role": "user", "content": "Hello!"}]
REASONER = "deepseek.deepseek-reasoner"  # json_mode and system_prompt only: no tools, schema, vision
GPT_4O = "openai.gpt-4o"  # every feature
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
IMAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is in this picture?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
        ],
    }
]
SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "city", "schema": {"type": "object", "properties": {"name": {"type": "string"}}}},
}
# (request fields, what the 400 names when no model has the feature)
NEEDS = {
    "tools": ({"messages": HELLO, "tools": [WEATHER]}, "tool_calling (the request has tools)"),
    "json_schema": (
        {"messages": HELLO, "response_format": SCHEMA},
        "structured_output (the request asks for",
    ),
    "image": ({"messages": IMAGE}, "vision (the request has image inputs)"),
}


def pool(
    *keys: str, models: dict[str, Any] | None = None, fakes: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One chat pool of exactly ``keys``, tried in that order; with ``fakes``, explicit providers.

    A config whose ``models`` name a provider must declare its providers: detection only fills in a
    config without them, after the config is validated.
    """
    chat = {
        "capability": "chat-completion",
        "models": list(keys),
        "strategy": "priority-selection",
        "model_priority": list(keys),
        "retry": {"max_attempts": 1},
    }
    config: dict[str, Any] = {"pools": {"chat-completion": chat}, "models": models or {}}
    if fakes:
        config["providers"] = {n: {"api_key": f.api_key, "base_url": f.base_url} for n, f in fakes.items()}
    return config


async def ask(client: Any, **fields: Any) -> Any:
    return await resolve(client.chat.completions.create(model="chat-completion", **fields))


async def test_a_plain_request_goes_to_the_first_model(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    providers("deepseek", "openai")
    client = client_for(config=pool(REASONER, GPT_4O))
    assert (await ask(client, messages=HELLO)).model == "deepseek-reasoner"


@pytest.mark.parametrize("need", NEEDS)
async def test_a_request_skips_models_without_the_feature_it_uses(providers, client_for, need) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("deepseek", "openai")
    client = client_for(config=pool(REASONER, GPT_4O))
    fields, _ = NEEDS[need]
    assert (await ask(client, **fields)).model == "gpt-4o"
    assert fakes["deepseek"].calls() == 0  # skipped before sending, not after a failure


@pytest.mark.parametrize("need", NEEDS)
async def test_no_capable_model_is_a_400_naming_the_requirement(providers, client_for, need) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("deepseek")
    client = client_for(config=pool(REASONER))
    fields, reason = NEEDS[need]
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(client, **fields)
    assert caught.value.code == "no_capable_model"
    assert reason in caught.value.message and "deepseek.deepseek-reasoner" in caught.value.message
    assert fakes["deepseek"].calls() == 0


async def test_json_mode_stays_on_a_model_that_has_it(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    providers("deepseek", "openai")
    client = client_for(config=pool(REASONER, GPT_4O))
    response = await ask(client, messages=HELLO, response_format={"type": "json_object"})
    assert response.model == "deepseek-reasoner"


SYNC_ONLY = {REASONER: {"provider": "deepseek", "delivery": ["sync"]}}


async def test_a_stream_skips_models_that_cannot_stream(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("deepseek", "openai")
    client = client_for(config=pool(REASONER, GPT_4O, models=SYNC_ONLY, fakes=fakes))
    assert (await ask(client, messages=HELLO)).model == "deepseek-reasoner"
    stream = await ask(client, messages=HELLO, stream=True)
    chunks = [c async for c in stream] if hasattr(stream, "__aiter__") else list(stream)
    assert {c.model for c in chunks} == {"gpt-4o"}


async def test_a_stream_with_no_streaming_model_is_a_400(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("deepseek")
    client = client_for(config=pool(REASONER, models=SYNC_ONLY, fakes=fakes))
    with pytest.raises(openai.BadRequestError, match=r"streaming \(the request has stream=True\)"):
        await ask(client, messages=HELLO, stream=True)


SMALL_WINDOW = {REASONER: {"provider": "deepseek", "constraints": {"context_window": 64}}}
LONG = [{"role": "user", "content": "Summarise this. " + "word " * 400}]


async def test_a_long_prompt_skips_models_with_a_small_context_window(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("deepseek", "openai")
    client = client_for(config=pool(REASONER, GPT_4O, models=SMALL_WINDOW, fakes=fakes))
    assert (await ask(client, messages=HELLO)).model == "deepseek-reasoner"
    assert (await ask(client, messages=LONG)).model == "gpt-4o"
    assert fakes["deepseek"].calls() == 1


async def test_a_prompt_too_long_for_every_model_is_a_400(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("deepseek")
    client = client_for(config=pool(REASONER, models=SMALL_WINDOW, fakes=fakes))
    with pytest.raises(openai.BadRequestError, match="a context window of"):
        await ask(client, messages=LONG)


async def test_context_length_exceeded_moves_to_a_larger_window(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai")
    fakes["openai"].fail_next(1, Fault.context_length(), model="gpt-4o-mini")
    client = client_for(config=pool("openai.gpt-4o-mini", "openai.gpt-4o", "openai.gpt-4.1"))
    raw = await resolve(
        client.chat.completions.with_raw_response.create(model="chat-completion", messages=HELLO)
    )
    assert raw.parse().model == "gpt-4.1"  # gpt-4o's window is no larger than gpt-4o-mini's 128k
    assert fakes["openai"].calls("gpt-4o") == 0
    assert raw.headers["x-modelmesh-attempts"] == "2"


async def test_context_length_exceeded_with_no_larger_model_is_returned(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai")
    fakes["openai"].fail_next(1, Fault.context_length())
    client = client_for(config=pool("openai.gpt-4o", "openai.gpt-4o-mini"))
    with pytest.raises(openai.BadRequestError) as caught:
        await ask(client, messages=HELLO)
    assert caught.value.code == "context_length_exceeded"
    assert fakes["openai"].calls() == 1
