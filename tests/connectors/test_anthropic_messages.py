"""The Anthropic Messages connector: pure translation both ways, streams, and error classification."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk
from pydantic import SecretStr

from modelmesh.connectors.anthropic_messages import (
    AnthropicMessagesConnector,
    AnthropicStreamError,
    messages_url,
)
from modelmesh.connectors.base import Connector, FailureKind, InboundRequest, UnsupportedRequest
from modelmesh.types import Endpoint, ModelSpec, ProviderEndpoint

NOW = 1_700_000_000.0
MODEL = ModelSpec(
    id="claude-sonnet-4-20250514",
    provider="anthropic",
    capabilities=frozenset(),
    features=frozenset({"tool_calling", "vision", "system_prompt", "assistant_prefill"}),
    max_output_tokens=8192,
)
PROVIDER = ProviderEndpoint(
    name="anthropic",
    connector_id="anthropic.claude.v1",
    base_url="http://127.0.0.1:9",
    api_key=SecretStr("sk-ant-test"),
)
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
PERSON_FORMAT = {
    "type": "json_schema",
    "json_schema": {
        "name": "person",
        "schema": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    },
}


def connector() -> AnthropicMessagesConnector:
    return AnthropicMessagesConnector(clock=lambda: NOW)


def inbound(body: dict[str, Any], endpoint: Endpoint = Endpoint.CHAT) -> InboundRequest:
    return InboundRequest(endpoint=endpoint, method="POST", headers={}, body=body, raw=b"")


def build(**body: Any) -> dict[str, Any]:
    body.setdefault("model", "chat")
    body.setdefault("messages", [{"role": "user", "content": "Hi"}])
    outbound = connector().build_request(inbound(body), MODEL, PROVIDER)
    return json.loads(outbound.content)


def anthropic_message(content: list[dict[str, Any]], stop_reason: str = "end_turn", **usage: int) -> bytes:
    return json.dumps(
        {
            "id": "msg_01XYZ",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-4-20250514",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5, **usage},
        }
    ).encode()


def translate(body: bytes, **request: Any) -> ChatCompletion:
    request.setdefault("messages", [{"role": "user", "content": "Hi"}])
    out = connector().translate_response(inbound(request), MODEL, body)
    return ChatCompletion.model_validate_json(out)


# --- requests -------------------------------------------------------------------------------------------


def test_connector_satisfies_the_protocol_and_is_not_passthrough() -> None:
    conn: Connector = connector()
    assert conn.passthrough is False


def test_registry_resolves_the_dialect_id_to_this_connector() -> None:
    from modelmesh.registry import CONNECTORS

    assert CONNECTORS.get("anthropic.claude.v1") is AnthropicMessagesConnector


def test_request_goes_to_v1_messages_with_anthropic_headers() -> None:
    provider = ProviderEndpoint(
        name="anthropic",
        connector_id="anthropic.claude.v1",
        base_url="http://127.0.0.1:9/",
        api_key=SecretStr("sk-ant-test"),
        headers={"anthropic-beta": "x"},
    )
    out = connector().build_request(
        inbound({"messages": [{"role": "user", "content": "Hi"}]}), MODEL, provider
    )
    assert (out.method, out.url) == ("POST", "http://127.0.0.1:9/v1/messages")
    assert out.headers["x-api-key"] == "sk-ant-test"
    assert out.headers["anthropic-version"] == "2023-06-01"
    assert out.headers["content-type"] == "application/json"
    assert out.headers["anthropic-beta"] == "x"


@pytest.mark.parametrize(
    "base_url",
    [
        "https://api.anthropic.com",
        "https://api.anthropic.com/",
        "https://api.anthropic.com/v1",
        "https://api.anthropic.com/v1/",
    ],
)
def test_base_url_is_the_host_root_and_a_trailing_v1_is_not_doubled(base_url: str) -> None:
    assert messages_url(base_url) == "https://api.anthropic.com/v1/messages"


@pytest.mark.parametrize("endpoint", [e for e in Endpoint if e is not Endpoint.CHAT])
def test_non_chat_endpoints_are_a_config_error(endpoint: Endpoint) -> None:
    with pytest.raises(UnsupportedRequest, match="chat only"):
        connector().build_request(inbound({"input": "x"}, endpoint), MODEL, PROVIDER)


def test_model_is_the_real_id_and_max_tokens_defaults_to_the_model_limit() -> None:
    body = build()
    assert body["model"] == "claude-sonnet-4-20250514"
    assert body["max_tokens"] == 8192
    assert body["messages"] == [{"role": "user", "content": "Hi"}]


def test_max_tokens_defaults_to_4096_without_a_model_limit() -> None:
    model = ModelSpec(id="claude-x", provider="anthropic", capabilities=frozenset())
    out = connector().build_request(
        inbound({"messages": [{"role": "user", "content": "Hi"}]}), model, PROVIDER
    )
    assert json.loads(out.content)["max_tokens"] == 4096


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"max_tokens": 100}, 100),
        ({"max_completion_tokens": 200}, 200),
        ({"max_completion_tokens": 200, "max_tokens": 100}, 200),
        ({"max_tokens": 100_000}, 8192),  # sized for another provider: clamped, not refused
    ],
)
def test_max_tokens_comes_from_either_openai_parameter(params: dict[str, int], expected: int) -> None:
    assert build(**params)["max_tokens"] == expected


def test_system_and_developer_messages_become_one_top_level_system() -> None:
    body = build(
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
            {"role": "user", "content": "Hi"},
        ]
    )
    assert body["system"] == "Be brief.\n\nAnswer in French."
    assert body["messages"] == [{"role": "user", "content": "Hi"}]


def test_system_keeps_text_blocks_when_a_part_asks_for_caching() -> None:
    cached = {"type": "text", "text": "Long context", "cache_control": {"type": "ephemeral"}}
    body = build(messages=[{"role": "system", "content": [cached]}, {"role": "user", "content": "Hi"}])
    assert body["system"] == [cached]


def test_no_system_key_without_system_messages() -> None:
    assert "system" not in build()


def test_consecutive_same_role_messages_are_merged() -> None:
    body = build(
        messages=[
            {"role": "user", "content": "one"},
            {"role": "user", "content": "two"},
            {"role": "assistant", "content": "three"},
            {"role": "assistant", "content": "four"},
            {"role": "user", "content": "five"},
        ]
    )
    assert body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {
            "role": "assistant",
            "content": [{"type": "text", "text": "three"}, {"type": "text", "text": "four"}],
        },
        {"role": "user", "content": "five"},
    ]


def test_final_assistant_prefill_loses_trailing_whitespace() -> None:
    body = build(messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Sure: \n"}])
    assert body["messages"][-1] == {"role": "assistant", "content": "Sure:"}


def test_multi_part_content_with_data_and_http_images() -> None:
    body = build(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                    {
                        "type": "image_url",
                        "image_url": {"url": "https://example.com/cat.jpg", "detail": "high"},
                    },
                ],
            }
        ]
    )
    assert body["messages"][0]["content"] == [
        {"type": "text", "text": "Compare"},
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
        {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
    ]


def test_assistant_refusal_parts_from_another_model_replay_as_text() -> None:
    refusal = {"role": "assistant", "content": [{"type": "refusal", "refusal": "I can't help with that."}]}
    body = build(messages=[{"role": "user", "content": "x"}, refusal, {"role": "user", "content": "ok"}])
    assert body["messages"][1] == {"role": "assistant", "content": "I can't help with that."}


def test_unsupported_content_parts_are_a_clear_error() -> None:
    part = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    with pytest.raises(ValueError, match="input_audio"):
        build(messages=[{"role": "user", "content": [part]}])


def test_tools_and_tool_results_round_trip() -> None:
    body = build(
        tools=[WEATHER_TOOL],
        messages=[
            {"role": "user", "content": "Weather in Paris and Rome?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "toolu_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {
                        "id": "call.2",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
            {"role": "tool", "tool_call_id": "call.2", "content": [{"type": "text", "text": "21C"}]},
            {"role": "user", "content": "Thanks"},
        ],
    )
    assert body["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather in a city",
            "input_schema": WEATHER_TOOL["function"]["parameters"],
        }
    ]
    assert "tool_choice" not in body
    user, assistant, results = body["messages"]
    assert user == {"role": "user", "content": "Weather in Paris and Rome?"}
    assert assistant == {
        "role": "assistant",
        "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Rome"}},
        ],
    }
    assert results == {
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
            {"type": "tool_result", "tool_use_id": "call_2", "content": [{"type": "text", "text": "21C"}]},
            {"type": "text", "text": "Thanks"},
        ],
    }


def test_tool_without_parameters_gets_an_empty_object_schema() -> None:
    tool = {"type": "function", "function": {"name": "now"}}
    assert build(tools=[tool])["tools"] == [
        {"name": "now", "input_schema": {"type": "object", "properties": {}}}
    ]


def test_invalid_tool_call_arguments_are_a_clear_error() -> None:
    call = {"id": "t1", "type": "function", "function": {"name": "f", "arguments": "{not json"}}
    with pytest.raises(ValueError, match="not valid JSON"):
        build(messages=[{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls": [call]}])


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("required", {"type": "any"}),
        ("none", {"type": "none"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ],
)
def test_tool_choice_variants(tool_choice: Any, expected: dict[str, Any]) -> None:
    assert build(tools=[WEATHER_TOOL], tool_choice=tool_choice)["tool_choice"] == expected


def test_parallel_tool_calls_false_disables_parallel_tool_use() -> None:
    assert build(tools=[WEATHER_TOOL], parallel_tool_calls=False)["tool_choice"] == {
        "type": "auto",
        "disable_parallel_tool_use": True,
    }
    assert build(tools=[WEATHER_TOOL], tool_choice="required", parallel_tool_calls=False)["tool_choice"] == {
        "type": "any",
        "disable_parallel_tool_use": True,
    }


@pytest.mark.parametrize(("stop", "expected"), [("END", ["END"]), (["a", "b"], ["a", "b"])])
def test_stop_becomes_stop_sequences(stop: Any, expected: list[str]) -> None:
    assert build(stop=stop)["stop_sequences"] == expected


def test_sampling_stream_and_user_are_mapped_and_openai_only_params_dropped() -> None:
    body = build(
        temperature=0.3,
        top_p=0.9,
        stream=True,
        stream_options={"include_usage": True},
        user="user-42",
        seed=7,
        frequency_penalty=0.5,
        presence_penalty=0.5,
        logprobs=True,
        n=1,
    )
    assert body["temperature"] == 0.3
    assert "top_p" not in body  # recent Claude models refuse both together
    assert body["stream"] is True
    assert body["metadata"] == {"user_id": "user-42"}
    for dropped in (
        "stream_options",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "logprobs",
        "n",
        "user",
    ):
        assert dropped not in body
    assert build(top_p=0.5)["top_p"] == 0.5
    assert build(temperature=1.7)["temperature"] == 1.0


def test_n_above_one_is_a_clear_value_error() -> None:
    with pytest.raises(ValueError, match="n=2"):
        build(n=2)


def test_json_schema_response_format_becomes_a_forced_tool() -> None:
    body = build(response_format=PERSON_FORMAT)
    assert body["tools"] == [
        {
            "name": "person",
            "description": "Respond with JSON that matches this schema.",
            "input_schema": PERSON_FORMAT["json_schema"]["schema"],
        }
    ]
    assert body["tool_choice"] == {"type": "tool", "name": "person"}


def test_json_schema_with_caller_tools_lets_the_model_pick_a_tool_or_the_schema() -> None:
    body = build(response_format=PERSON_FORMAT, tools=[WEATHER_TOOL])
    assert [t["name"] for t in body["tools"]] == ["get_weather", "person"]
    assert body["tool_choice"] == {"type": "any"}


def test_json_object_response_format_uses_an_open_object_schema() -> None:
    body = build(response_format={"type": "json_object"})
    assert body["tool_choice"] == {"type": "tool", "name": "json_response"}
    assert body["tools"][0]["input_schema"]["type"] == "object"


# --- responses ------------------------------------------------------------------------------------------


def test_text_response_becomes_a_chat_completion() -> None:
    completion = translate(
        anthropic_message([{"type": "text", "text": "Hello"}, {"type": "text", "text": "!"}])
    )
    assert completion.id == "msg_01XYZ"
    assert completion.object == "chat.completion"
    assert completion.created == int(NOW)
    assert completion.model == "claude-sonnet-4-20250514"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].message.content == "Hello!"
    assert completion.choices[0].message.tool_calls is None
    assert completion.choices[0].finish_reason == "stop"


def test_tool_use_response_becomes_tool_calls() -> None:
    body = anthropic_message(
        [
            {"type": "text", "text": "Let me check."},
            {"type": "tool_use", "id": "toolu_01A", "name": "get_weather", "input": {"city": "Paris"}},
        ],
        stop_reason="tool_use",
    )
    choice = translate(body, tools=[WEATHER_TOOL]).choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Let me check."
    (call,) = choice.message.tool_calls or []
    assert call.id == "toolu_01A"
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}


def test_tool_only_response_has_no_content() -> None:
    body = anthropic_message(
        [{"type": "tool_use", "id": "t", "name": "get_weather", "input": {}}], "tool_use"
    )
    assert translate(body).choices[0].message.content is None


def test_structured_output_tool_use_comes_back_as_json_content() -> None:
    body = anthropic_message(
        [{"type": "tool_use", "id": "toolu_9", "name": "person", "input": {"name": "Ada"}}], "tool_use"
    )
    choice = translate(body, response_format=PERSON_FORMAT).choices[0]
    assert json.loads(choice.message.content or "") == {"name": "Ada"}
    assert choice.message.tool_calls is None
    assert choice.finish_reason == "stop"


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "stop"),
        (None, "stop"),
    ],
)
def test_every_stop_reason_maps_to_a_finish_reason(stop_reason: str | None, finish_reason: str) -> None:
    content: list[dict[str, Any]] = [{"type": "text", "text": "x"}]
    if stop_reason == "tool_use":
        content.append({"type": "tool_use", "id": "t", "name": "get_weather", "input": {}})
    completion = translate(anthropic_message(content, stop_reason))  # type: ignore[arg-type]
    assert completion.choices[0].finish_reason == finish_reason


def test_usage_counts_cache_tokens_as_prompt_tokens() -> None:
    body = anthropic_message(
        [{"type": "text", "text": "x"}],
        input_tokens=10,
        output_tokens=5,
        cache_creation_input_tokens=100,
        cache_read_input_tokens=1000,
    )
    usage = translate(body).usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (1110, 5, 1115)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 1000


# --- streams --------------------------------------------------------------------------------------------


def sse(event: str, **data: Any) -> tuple[str, str]:
    return event, json.dumps({"type": event, **data})


MESSAGE_START = sse(
    "message_start",
    message={
        "id": "msg_stream1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": [],
        "stop_reason": None,
        "usage": {"input_tokens": 25, "cache_read_input_tokens": 100, "output_tokens": 1},
    },
)
TEXT_STREAM = [
    MESSAGE_START,
    sse("content_block_start", index=0, content_block={"type": "text", "text": ""}),
    sse("ping"),
    sse("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hello"}),
    sse("content_block_delta", index=0, delta={"type": "text_delta", "text": ", world"}),
    sse("content_block_stop", index=0),
    sse(
        "message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None}, usage={"output_tokens": 12}
    ),
    sse("message_stop"),
]
TOOL_STREAM = [
    MESSAGE_START,
    sse("content_block_start", index=0, content_block={"type": "text", "text": ""}),
    sse("content_block_delta", index=0, delta={"type": "text_delta", "text": "Checking."}),
    sse("content_block_stop", index=0),
    sse(
        "content_block_start",
        index=1,
        content_block={"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {}},
    ),
    sse("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": ""}),
    sse("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": '{"city": '}),
    sse("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": '"Paris"}'}),
    sse("content_block_stop", index=1),
    sse(
        "content_block_start",
        index=2,
        content_block={"type": "tool_use", "id": "toolu_B", "name": "get_weather", "input": {}},
    ),
    sse(
        "content_block_delta", index=2, delta={"type": "input_json_delta", "partial_json": '{"city": "Rome"}'}
    ),
    sse("content_block_stop", index=2),
    sse(
        "message_delta", delta={"stop_reason": "tool_use", "stop_sequence": None}, usage={"output_tokens": 40}
    ),
    sse("message_stop"),
]


def run_stream(events: list[tuple[str, str]], **request: Any) -> tuple[list[ChatCompletionChunk], bool]:
    request.setdefault("messages", [{"role": "user", "content": "Hi"}])
    translator = connector().stream_translator(inbound({"stream": True, **request}), MODEL)
    chunks: list[ChatCompletionChunk] = []
    for event, data in events:
        chunks.extend(ChatCompletionChunk.model_validate(c) for c in translator.feed(event, data))
    return chunks, translator.finished


def reconstruct(chunks: list[ChatCompletionChunk]) -> dict[str, Any]:
    """What an OpenAI client accumulating the deltas ends up with."""
    content, calls, finish = "", {}, None
    for chunk in chunks:
        for choice in chunk.choices:
            content += choice.delta.content or ""
            for call in choice.delta.tool_calls or []:
                slot = calls.setdefault(call.index, {"id": None, "name": None, "arguments": ""})
                slot["id"] = call.id or slot["id"]
                if call.function is not None:
                    slot["name"] = call.function.name or slot["name"]
                    slot["arguments"] += call.function.arguments or ""
            finish = choice.finish_reason or finish
    return {"content": content, "tool_calls": [calls[i] for i in sorted(calls)], "finish_reason": finish}


def test_text_stream_becomes_openai_chunks() -> None:
    chunks, finished = run_stream(TEXT_STREAM)
    assert finished
    assert {c.id for c in chunks} == {"msg_stream1"}
    assert {c.model for c in chunks} == {"claude-sonnet-4-20250514"}
    assert {c.object for c in chunks} == {"chat.completion.chunk"}
    assert chunks[0].choices[0].delta.role == "assistant"
    assert reconstruct(chunks) == {"content": "Hello, world", "tool_calls": [], "finish_reason": "stop"}
    assert all(c.usage is None for c in chunks)


def test_tool_call_stream_sends_id_and_name_first_then_argument_pieces() -> None:
    chunks, finished = run_stream(TOOL_STREAM, tools=[WEATHER_TOOL])
    assert finished
    first_call = next(c for c in chunks if c.choices and c.choices[0].delta.tool_calls)
    (delta,) = first_call.choices[0].delta.tool_calls or []
    assert (delta.index, delta.id, delta.type) == (0, "toolu_A", "function")
    assert delta.function is not None and delta.function.name == "get_weather"
    assert reconstruct(chunks) == {
        "content": "Checking.",
        "tool_calls": [
            {"id": "toolu_A", "name": "get_weather", "arguments": '{"city": "Paris"}'},
            {"id": "toolu_B", "name": "get_weather", "arguments": '{"city": "Rome"}'},
        ],
        "finish_reason": "tool_calls",
    }


def test_stream_usage_chunk_is_last_and_only_when_asked() -> None:
    chunks, _ = run_stream(TEXT_STREAM, stream_options={"include_usage": True})
    last = chunks[-1]
    assert last.choices == []
    assert last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (125, 12, 137)
    assert last.usage.prompt_tokens_details is not None
    assert last.usage.prompt_tokens_details.cached_tokens == 100
    assert sum(1 for c in chunks if c.usage is not None) == 1


def test_stream_is_finished_at_message_delta_with_a_stop_reason() -> None:
    _, finished = run_stream(TEXT_STREAM[:-2])
    assert not finished
    _, finished = run_stream(TEXT_STREAM[:-1])
    assert finished


def test_structured_output_stream_streams_the_schema_tool_as_content() -> None:
    events = [
        MESSAGE_START,
        sse(
            "content_block_start",
            index=0,
            content_block={"type": "tool_use", "id": "t", "name": "person", "input": {}},
        ),
        sse("content_block_delta", index=0, delta={"type": "input_json_delta", "partial_json": '{"name"'}),
        sse("content_block_delta", index=0, delta={"type": "input_json_delta", "partial_json": ': "Ada"}'}),
        sse("content_block_stop", index=0),
        sse("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 9}),
        sse("message_stop"),
    ]
    chunks, _ = run_stream(events, response_format=PERSON_FORMAT)
    result = reconstruct(chunks)
    assert json.loads(result["content"]) == {"name": "Ada"}
    assert result["tool_calls"] == []
    assert result["finish_reason"] == "stop"


@pytest.mark.parametrize(
    ("error_type", "kind"),
    [
        ("overloaded_error", FailureKind.SERVER),
        ("api_error", FailureKind.SERVER),
        ("rate_limit_error", FailureKind.RATE_LIMITED),
        ("invalid_request_error", FailureKind.BAD_REQUEST),
    ],
)
def test_stream_error_event_raises_a_classified_failure(error_type: str, kind: FailureKind) -> None:
    events = [*TEXT_STREAM[:4], sse("error", error={"type": error_type, "message": "Overloaded"})]
    with pytest.raises(AnthropicStreamError) as caught:
        run_stream(events)
    assert caught.value.failure.kind is kind
    assert json.loads(caught.value.failure.body)["error"]["message"] == "Overloaded"


def test_malformed_stream_event_raises_value_error_for_the_monitor_to_skip() -> None:
    with pytest.raises(ValueError):
        run_stream([MESSAGE_START, ("content_block_delta", "{not json")])


def test_unknown_and_thinking_events_are_skipped() -> None:
    events = [
        MESSAGE_START,
        sse("content_block_start", index=0, content_block={"type": "thinking", "thinking": ""}),
        sse("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "hmm"}),
        sse("content_block_stop", index=0),
        sse("some_future_event", foo=1),
        *TEXT_STREAM[1:],
    ]
    assert reconstruct(run_stream(events)[0])["content"] == "Hello, world"


# --- errors ---------------------------------------------------------------------------------------------


def anthropic_error(error_type: str, message: str) -> bytes:
    return json.dumps({"type": "error", "error": {"type": error_type, "message": message}}).encode()


@pytest.mark.parametrize(
    ("status", "error_type", "message", "kind"),
    [
        (
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your rate limit",
            FailureKind.RATE_LIMITED,
        ),
        (529, "overloaded_error", "Overloaded", FailureKind.SERVER),
        (500, "api_error", "Internal server error", FailureKind.SERVER),
        (502, "api_error", "Bad gateway", FailureKind.SERVER),
        (503, "api_error", "Unavailable", FailureKind.SERVER),
        (504, "timeout_error", "Timed out", FailureKind.SERVER),
        (408, "timeout_error", "Request timeout", FailureKind.SERVER),
        (401, "authentication_error", "invalid x-api-key", FailureKind.AUTH),
        (403, "permission_error", "Your API key does not have permission", FailureKind.AUTH),
        (404, "not_found_error", "model: claude-nope", FailureKind.NOT_FOUND),
        (
            400,
            "invalid_request_error",
            "prompt is too long: 210000 tokens > 200000 maximum",
            FailureKind.CONTEXT_LENGTH,
        ),
        (400, "invalid_request_error", "messages: roles must alternate", FailureKind.BAD_REQUEST),
        (
            413,
            "request_too_large",
            "Request exceeds the maximum allowed number of bytes",
            FailureKind.BAD_REQUEST,
        ),
        (422, "invalid_request_error", "unprocessable", FailureKind.BAD_REQUEST),
        (
            400,
            "invalid_request_error",
            "Output blocked by content filtering policy",
            FailureKind.CONTENT_POLICY,
        ),
    ],
)
def test_error_classification(status: int, error_type: str, message: str, kind: FailureKind) -> None:
    failure = connector().classify(status, {}, anthropic_error(error_type, message))
    assert failure.kind is kind
    assert failure.status == status
    error = json.loads(failure.body)["error"]
    assert error["message"] == message
    assert error["param"] is None
    assert error["type"] == error_type


def test_context_length_error_carries_openai_code() -> None:
    body = anthropic_error("invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")
    assert json.loads(connector().classify(400, {}, body).body)["error"]["code"] == "context_length_exceeded"


def test_retry_after_header_is_honoured() -> None:
    failure = connector().classify(
        429, {"Retry-After": "7"}, anthropic_error("rate_limit_error", "slow down")
    )
    assert failure.retry_after_s == 7.0


def test_retry_after_falls_back_to_the_exhausted_limit_reset() -> None:
    headers = {
        "anthropic-ratelimit-requests-remaining": "40",
        "anthropic-ratelimit-requests-reset": "2023-11-14T22:13:21Z",  # NOW + 1s
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": "2023-11-14T22:13:50Z",  # NOW + 30s
    }
    failure = connector().classify(429, headers, anthropic_error("rate_limit_error", "slow down"))
    assert failure.retry_after_s == pytest.approx(30.0)


def test_non_json_error_body_still_gives_an_openai_error() -> None:
    failure = connector().classify(502, {"content-length": "20"}, b"<html>Bad Gateway</html>")
    assert failure.kind is FailureKind.SERVER
    assert "Bad Gateway" in json.loads(failure.body)["error"]["message"]
    assert "content-length" not in failure.headers  # the body was rewritten


@pytest.mark.parametrize("status", [400, 401, 429, 500, 529])
def test_error_bodies_parse_as_openai_errors_and_never_contain_the_key(status: int) -> None:
    body = anthropic_error("authentication_error", "invalid x-api-key sk-ant-test")
    failure = connector().classify(status, {}, body)
    assert b"sk-ant-test" not in failure.body
    assert "sk-ant-test" not in failure.message
    response = httpx2.Response(
        status,
        content=failure.body,
        headers={"content-type": "application/json"},
        request=httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions"),
    )
    error = openai.OpenAI(
        api_key="unused", base_url="http://127.0.0.1:9/v1"
    )._make_status_error_from_response(response)
    assert isinstance(error, openai.APIStatusError)
    assert error.status_code == status
    assert "invalid x-api-key" in error.message
    assert "sk-ant-test" not in str(error)


def test_request_never_leaks_the_key_outside_its_header() -> None:
    out = connector().build_request(
        inbound({"messages": [{"role": "user", "content": "Hi"}]}), MODEL, PROVIDER
    )
    assert b"sk-ant-test" not in out.content
    assert "sk-ant-test" not in out.url
