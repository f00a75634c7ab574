"""The Anthropic Messages API through the mesh: the real ``anthropic`` SDK (``create_anthropic``), answered
by an OpenAI-dialect fake, an Anthropic-dialect fake, and failing over between them."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import anthropic
import pytest

from modelmesh import AnthropicMeshClient, create_anthropic, create_anthropic_async
from modelmesh.testing import FakeProvider, Fault
from tests.dialects.conftest import CLAUDE, FALLBACK, FIRST, cut_after_content, fail_first, mesh_config

Fakes = tuple[FakeProvider, FakeProvider]
ALL_ORDERS = [*FIRST, *FALLBACK]
HI: Any = [{"role": "user", "content": "Hi there"}]
WEATHER = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()


def expected_model(order: str, both: Fakes) -> str:
    if order in FALLBACK:
        fail_first(order, *both, Fault.status(529 if order.startswith("anthropic") else 503))
        return FALLBACK[order]
    return FIRST[order]


def ask(both: Fakes, order: str, mode: str, stream: bool = False, **request: Any) -> Any:
    """``messages.create``; with ``stream``, ``messages.stream`` read to the end: (event types, message)."""
    config = mesh_config(*both, order)
    request = {"model": "chat-completion", "max_tokens": 200, **request}
    if mode == "sync":
        with create_anthropic(config=config) as client:
            if not stream:
                return client.messages.create(**request)
            with client.messages.stream(**request) as events:
                seen = [event.type for event in events]
                return seen, events.get_final_message()

    async def run() -> Any:
        async with create_anthropic_async(config=config) as client:
            if not stream:
                return await client.messages.create(**request)
            async with client.messages.stream(**request) as events:
                seen = [event.type async for event in events]
                return seen, await events.get_final_message()

    return asyncio.run(run())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("order", ALL_ORDERS)
def test_text_with_a_system_prompt_whole(both: Fakes, order: str, mode: str) -> None:
    model = expected_model(order, both)
    message = ask(both, order, mode, system="Be brief.", messages=HI)
    assert isinstance(message, anthropic.types.Message)
    assert message.model == model and message.role == "assistant" and message.stop_reason == "end_turn"
    assert message.content[0].type == "text"
    assert message.content[0].text == f"Hello from {model}! You said: Hi there"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("order", ALL_ORDERS)
def test_text_streamed_is_the_messages_event_sequence(both: Fakes, order: str, mode: str) -> None:
    model = expected_model(order, both)
    kinds, message = ask(
        both, order, mode, stream=True, system=[{"type": "text", "text": "Be brief."}], messages=HI
    )
    raw = [k for k in kinds if k not in ("text", "input_json")]  # the SDK's helper events
    assert raw[0] == "message_start" and raw[1] == "content_block_start"
    assert raw[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert message.content[0].text == f"Hello from {model}! You said: Hi there"
    assert message.stop_reason == "end_turn" and message.usage.output_tokens > 0 and message.model == model


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("order", ALL_ORDERS)
def test_a_tools_round_trip(both: Fakes, order: str, stream: bool) -> None:
    model = expected_model(order, both)
    question = [{"role": "user", "content": "Weather in Paris?"}]
    first = ask(both, order, "sync", stream=stream, tools=[WEATHER], messages=question)
    first = first[1] if stream else first
    assert first.stop_reason == "tool_use" and first.model == model
    (call,) = [block for block in first.content if block.type == "tool_use"]
    assert call.name == "get_weather" and "city" in call.input
    followup = [
        *question,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "22 C and sunny"}],
        },
    ]
    for fake in both:
        fake.reset()
    second = ask(both, order.split("-")[0], "sync", tools=[WEATHER], messages=followup)
    assert "The tool returned: 22 C and sunny" in second.content[0].text


@pytest.mark.parametrize("order", ["openai", "anthropic"])
def test_an_image_block_reaches_the_provider(both: Fakes, order: str) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    content = [image, {"type": "text", "text": "What is this?"}]
    message = ask(both, order, "sync", messages=[{"role": "user", "content": content}])
    assert message.content[0].text.endswith("What is this?")
    fake = both[0] if order == "openai" else both[1]
    assert PNG in json.dumps(fake.requests[-1].json)


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, anthropic.RateLimitError),
        (500, anthropic.InternalServerError),
        (401, anthropic.AuthenticationError),
        (400, anthropic.BadRequestError),
    ],
)
def test_every_provider_failing_is_the_anthropic_exception_with_the_attempts(
    both: Fakes, status: int, error: type[Exception]
) -> None:
    both[0].fail_next(1, Fault.status(status))
    both[1].fail_next(1, Fault.status(status))
    with pytest.raises(error) as caught:
        ask(both, "openai-then-anthropic", "sync", messages=HI)
    assert isinstance(caught.value, anthropic.APIStatusError) and caught.value.status_code == status
    body: Any = caught.value.body
    assert body["type"] == "error" and "attempts:" in body["error"]["message"]


def test_an_unknown_pool_is_the_anthropic_not_found_error(both: Fakes) -> None:
    with (
        create_anthropic(config=mesh_config(*both, "openai")) as client,
        pytest.raises(anthropic.NotFoundError),
    ):
        client.messages.create(model="no-such-pool", max_tokens=10, messages=HI)


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"thinking": {"type": "enabled", "budget_tokens": 1024}}, "thinking"),
        ({"extra_body": {"top_k": 5}}, "top_k"),
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "web_search"),
    ],
)
def test_what_the_chat_form_cannot_carry_is_a_400_naming_it(
    both: Fakes, setting: dict[str, Any], named: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        ask(both, "anthropic", "sync", messages=HI, **setting)
    assert named in caught.value.message
    assert both[1].calls() == 0


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("order", ["openai", "anthropic"])
def test_a_stream_cut_after_content_ends_in_the_anthropic_error_never_a_truncated_success(
    both: Fakes, order: str, mode: str
) -> None:
    cut_after_content(order, *both)
    with pytest.raises(anthropic.APIStatusError) as caught:
        ask(both, order, mode, stream=True, messages=HI)
    assert "broke after content was delivered" in caught.value.message


def test_count_tokens_is_a_local_estimate(both: Fakes) -> None:
    with create_anthropic(config=mesh_config(*both, "anthropic")) as client:
        small = client.messages.count_tokens(model="chat-completion", messages=HI)
        large = client.messages.count_tokens(
            model="chat-completion", messages=[{"role": "user", "content": "x" * 4000}]
        )
    assert 0 < small.input_tokens < large.input_tokens
    assert both[0].calls() == both[1].calls() == 0


def test_a_pool_that_continues_interrupted_answers_completes_the_messages_stream(both: Fakes) -> None:
    config = mesh_config(*both, "openai-then-anthropic")
    config["pools"]["chat-completion"]["streaming"] = {"on_interrupt": "continue"}
    cut_after_content("openai", *both)
    with (
        create_anthropic(config=config) as client,
        client.messages.stream(model="chat-completion", max_tokens=200, messages=HI) as stream,
    ):
        message = stream.get_final_message()
    assert message.stop_reason == "end_turn" and message.content[0].type == "text"
    # What the first model delivered, then the continuation (the fake restarts its answer: no prefill).
    assert message.content[0].text.startswith("Hello from") and CLAUDE in message.content[0].text
    assert both[1].calls() == 1


def test_the_client_is_an_anthropic_client_that_keeps_its_mesh_through_with_options(both: Fakes) -> None:
    with create_anthropic(config=mesh_config(*both, "anthropic")) as client:
        assert isinstance(client, anthropic.Anthropic) and client.max_retries == 0
        quick = client.with_options(timeout=9)
        assert quick.mesh is client.mesh and "AnthropicMeshClient(pools=['chat-completion']" in repr(quick)
        assert quick.messages.create(model="chat-completion", max_tokens=20, messages=HI).model == CLAUDE
        assert client.pool_status()["chat-completion"].active == 2
    with pytest.raises(TypeError, match="create_anthropic"):
        AnthropicMeshClient()
