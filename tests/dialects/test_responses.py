"""The OpenAI Responses API through the mesh: the real ``openai`` SDK in process, answered by an
OpenAI-dialect fake, an Anthropic-dialect fake, and failing over from one to the other."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from modelmesh import StreamInterruptedError, create, create_async
from modelmesh.testing import FakeProvider, Fault
from tests.dialects.conftest import FALLBACK, FIRST, cut_after_content, fail_first, mesh_config

Fakes = tuple[FakeProvider, FakeProvider]
ALL_ORDERS = [*FIRST, *FALLBACK]
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def expected_model(order: str, both: Fakes) -> str:
    if order in FALLBACK:
        fail_first(order, *both, Fault.status(503))
        return FALLBACK[order]
    return FIRST[order]


def ask(both: Fakes, order: str, mode: str, **request: Any) -> Any:
    """``responses.create`` (sync or async); a stream is read to its end: (events, final response)."""
    config = mesh_config(*both, order)
    if mode == "sync":
        with create(config=config) as client:
            result = client.responses.create(model="chat-completion", **request)
            if request.get("stream"):
                events = list(result)
                return events, events[-1].response
            return result

    async def run() -> Any:
        async with create_async(config=config) as client:
            result = await client.responses.create(model="chat-completion", **request)
            if request.get("stream"):
                events = [event async for event in result]
                return events, events[-1].response
            return result

    return asyncio.run(run())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("order", ALL_ORDERS)
def test_text_whole_is_a_response_with_output_text_usage_and_the_real_model(
    both: Fakes, order: str, mode: str
) -> None:
    model = expected_model(order, both)
    response = ask(both, order, mode, input="Hi there", instructions="Be brief.")
    assert response.object == "response" and response.status == "completed"
    assert response.model == model
    assert response.output_text == f"Hello from {model}! You said: Hi there"
    assert response.output[0].type == "message" and response.output[0].content[0].type == "output_text"
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.instructions == "Be brief."


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("order", ALL_ORDERS)
def test_text_streamed_is_the_documented_event_sequence(both: Fakes, order: str, mode: str) -> None:
    model = expected_model(order, both)
    events, final = ask(both, order, mode, input="Hi there", stream=True)
    kinds = [event.type for event in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == final.output_text == f"Hello from {model}! You said: Hi there"
    assert final.model == model and final.usage.output_tokens > 0
    assert [e.sequence_number for e in events] == list(range(len(events)))


@pytest.mark.parametrize("order", ALL_ORDERS)
def test_input_items_with_a_developer_message_and_history(both: Fakes, order: str) -> None:
    model = expected_model(order, both)
    items = [
        {"role": "developer", "content": "Answer in English."},
        {"role": "user", "content": [{"type": "input_text", "text": "First question"}]},
        {
            "type": "message",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "First answer"}],
        },
        {"role": "user", "content": "Second question"},
    ]
    response = ask(both, order, "sync", input=items)
    assert response.output_text == f"Hello from {model}! You said: Second question"


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("order", ALL_ORDERS)
def test_a_tools_round_trip_with_function_call_output(both: Fakes, order: str, stream: bool) -> None:
    model = expected_model(order, both)
    question = [{"role": "user", "content": "Weather in Paris?"}]
    first = ask(both, order, "sync", input=question, tools=[WEATHER], stream=stream)
    if stream:
        events, first = first
        assert "response.function_call_arguments.delta" in [e.type for e in events]
    (call,) = [item for item in first.output if item.type == "function_call"]
    assert call.name == "get_weather" and "city" in json.loads(call.arguments)
    followup = [
        *question,
        {"type": "function_call", "call_id": call.call_id, "name": call.name, "arguments": call.arguments},
        {"type": "function_call_output", "call_id": call.call_id, "output": "22 C and sunny"},
    ]
    for fake in both:
        fake.reset()
    second = ask(both, order.split("-")[0], "sync", input=followup, tools=[WEATHER])
    assert "The tool returned: 22 C and sunny" in second.output_text
    assert first.model == model


class Weather(BaseModel):
    city: str
    degrees: int


@pytest.mark.parametrize("order", ALL_ORDERS)
def test_json_schema_through_responses_parse(both: Fakes, order: str) -> None:
    model = expected_model(order, both)
    with create(config=mesh_config(*both, order)) as client:
        response = client.responses.parse(
            model="chat-completion", input="Weather in Paris", text_format=Weather
        )
    assert isinstance(response.output_parsed, Weather)
    assert response.model == model


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        ({"previous_response_id": "resp_123"}, "previous_response_id"),
        ({"store": True}, "store"),
        ({"conversation": "conv_1"}, "conversation"),
        ({"tools": [{"type": "web_search"}]}, "web_search"),
    ],
)
def test_stateful_features_and_built_in_tools_are_a_400_naming_them(
    both: Fakes, setting: dict[str, Any], named: str
) -> None:
    with (
        create(config=mesh_config(*both, "openai")) as client,
        pytest.raises(openai.BadRequestError) as caught,
    ):
        client.responses.create(model="chat-completion", input="Hi", **setting)
    assert named in caught.value.message
    assert both[0].calls() == 0  # refused before any provider was asked


def test_an_unknown_pool_is_the_openai_404(both: Fakes) -> None:
    with create(config=mesh_config(*both, "openai")) as client, pytest.raises(openai.NotFoundError):
        client.responses.create(model="no-such-pool", input="Hi")


def test_every_provider_failing_is_the_openai_exception(both: Fakes) -> None:
    both[0].fail_next(1, Fault.status(429))
    both[1].fail_next(1, Fault.status(429))
    config = mesh_config(*both, "openai-then-anthropic")
    with create(config=config) as client, pytest.raises(openai.RateLimitError):
        client.responses.create(model="chat-completion", input="Hi")


@pytest.mark.parametrize("order", ["openai", "anthropic"])
def test_a_stream_cut_after_content_raises_never_a_truncated_success(both: Fakes, order: str) -> None:
    cut_after_content(order, *both)
    with create(config=mesh_config(*both, order)) as client:
        stream = client.responses.create(model="chat-completion", input="Hi there", stream=True)
        kinds: list[str] = []
        with pytest.raises(StreamInterruptedError):
            kinds.extend(event.type for event in stream)
    assert "response.completed" not in kinds


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_responses_stream_helper_gives_the_final_response(both: Fakes, mode: str) -> None:
    config = mesh_config(*both, "anthropic")
    if mode == "sync":
        with (
            create(config=config) as client,
            client.responses.stream(model="chat-completion", input="Hi there") as stream,
        ):
            texts = [e.delta for e in stream if e.type == "response.output_text.delta"]
            final = stream.get_final_response()
    else:

        async def run() -> tuple[list[str], Any]:
            async with (
                create_async(config=config) as client,
                client.responses.stream(model="chat-completion", input="Hi there") as stream,
            ):
                texts = [e.delta async for e in stream if e.type == "response.output_text.delta"]
                return texts, await stream.get_final_response()

        texts, final = asyncio.run(run())
    assert "".join(texts) == final.output_text == "Hello from claude-sonnet-4-20250514! You said: Hi there"
