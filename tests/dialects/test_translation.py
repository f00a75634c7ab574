"""The dialect translators alone (pure functions of bytes and dicts): the cases the SDK tests do not reach."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from modelmesh import create
from modelmesh.dialects.base import DialectError, chat_events
from modelmesh.dialects.lookup import dialect_for
from modelmesh.dialects.messages import MessagesDialect, count_tokens
from modelmesh.dialects.responses import ResponsesDialect
from modelmesh.testing import FakeProvider
from tests.dialects.conftest import mesh_config


def chunk(delta: dict[str, Any] | None = None, finish: str | None = None, usage: Any = None) -> bytes:
    payload: dict[str, Any] = {"id": "chatcmpl-1", "model": "m", "choices": []}
    if delta is not None or finish is not None:
        payload["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}]
    if usage is not None:
        payload["usage"] = usage
    return b"data: " + json.dumps(payload).encode() + b"\n\n"


def events(sse: bytes) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for raw in sse.split(b"\n\n"):
        if raw:
            name, data = raw.split(b"\n", 1)
            out.append((name.decode().removeprefix("event: "), json.loads(data.removeprefix(b"data: "))))
    return out


def call(index: int, call_id: str | None, name: str | None, arguments: str) -> dict[str, Any]:
    function = {"name": name, "arguments": arguments} if name else {"arguments": arguments}
    return {"tool_calls": [{"index": index, "id": call_id, "type": "function", "function": function}]}


PARALLEL = [
    chunk({"role": "assistant", "content": ""}),
    chunk(call(0, "call_a", "get_weather", '{"city":')),
    chunk(call(1, "call_b", "get_time", '{"tz":"CET"}')),
    chunk(call(0, None, None, '"Paris"}')),
    chunk(finish="tool_calls"),
    chunk(usage={"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}),
    b"data: [DONE]\n\n",
]


def test_responses_stream_of_parallel_tool_calls_gives_one_item_each_with_its_arguments() -> None:
    stream = ResponsesDialect().stream()
    out = events(b"".join(stream.feed(c) for c in PARALLEL))
    final = out[-1][1]["response"]
    assert out[-1][0] == "response.completed"
    calls = [(i["call_id"], i["name"], json.loads(i["arguments"])) for i in final["output"]]
    assert calls == [("call_a", "get_weather", {"city": "Paris"}), ("call_b", "get_time", {"tz": "CET"})]
    assert final["usage"]["input_tokens"] == 5 and final["usage"]["output_tokens"] == 9
    assert [e for e, _ in out].count("response.function_call_arguments.done") == 2


def test_messages_stream_of_parallel_tool_calls_gives_one_block_each() -> None:
    stream = MessagesDialect().stream()
    out = events(b"".join(stream.feed(c) for c in PARALLEL))
    starts = [d["content_block"] for e, d in out if e == "content_block_start"]
    assert [(b["id"], b["name"]) for b in starts] == [("call_a", "get_weather"), ("call_b", "get_time")]
    json_by_index: dict[int, str] = {}
    for e, d in out:
        if e == "content_block_delta":
            json_by_index[d["index"]] = json_by_index.get(d["index"], "") + d["delta"]["partial_json"]
    # A delta for an earlier call after another one opened goes to its own block: both JSONs parse.
    assert {k: json.loads(v) for k, v in json_by_index.items()} == {0: {"city": "Paris"}, 1: {"tz": "CET"}}
    delta = next(d for e, d in out if e == "message_delta")
    assert delta["delta"]["stop_reason"] == "tool_use" and delta["usage"]["output_tokens"] == 9
    assert out[-1][0] == "message_stop"


def test_a_length_finish_is_an_incomplete_response_and_max_tokens_message() -> None:
    body = json.dumps(
        {"id": "c", "model": "m", "choices": [{"message": {"content": "Hel"}, "finish_reason": "length"}]}
    ).encode()
    response = json.loads(ResponsesDialect().answer(body))
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert json.loads(MessagesDialect().answer(body))["stop_reason"] == "max_tokens"


def test_responses_items_become_chat_messages() -> None:
    chat = ResponsesDialect().to_chat(
        {
            "model": "p",
            "instructions": "Be brief.",
            "input": [
                {
                    "role": "user",
                    "content": [{"type": "input_image", "image_url": "data:image/png;base64,AA"}],
                },
                {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"},
                {"type": "function_call", "call_id": "b", "name": "g", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "a", "output": "1"},
                {"type": "function_call_output", "call_id": "b", "output": "2"},
            ],
            "text": {
                "format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}, "strict": True}
            },
            "max_output_tokens": 50,
            "stream": True,
        }
    )
    roles = [m["role"] for m in chat["messages"]]
    assert roles == ["system", "user", "assistant", "tool", "tool"]
    assert chat["messages"][1]["content"][0] == {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64,AA"},
    }
    assert [c["id"] for c in chat["messages"][2]["tool_calls"]] == ["a", "b"]  # one assistant turn
    assert chat["response_format"]["json_schema"]["name"] == "x"
    assert chat["max_completion_tokens"] == 50 and chat["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("dialect", "body", "named"),
    [
        (ResponsesDialect, {"input": "x", "modalities": ["audio"]}, "modalities"),
        (ResponsesDialect, {"input": [{"type": "input_file", "file_id": "f"}]}, "input_file"),
        (MessagesDialect, {"messages": []}, "max_tokens"),
        (
            MessagesDialect,
            {"max_tokens": 5, "messages": [{"role": "user", "content": [{"type": "document"}]}]},
            "document",
        ),
    ],
)
def test_what_a_dialect_cannot_carry_is_named(dialect: Any, body: dict[str, Any], named: str) -> None:
    with pytest.raises(DialectError, match=named):
        dialect().to_chat(body)


def test_messages_history_drops_thinking_and_cache_control_and_keeps_tool_errors() -> None:
    chat = MessagesDialect().to_chat(
        {
            "max_tokens": 10,
            "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": True},
            "messages": [
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": [
                        {"type": "thinking", "thinking": "hmm", "signature": "s"},
                        {"type": "tool_use", "id": "t1", "name": "w", "input": {"city": "Paris"}},
                    ],
                },
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t1", "is_error": True, "content": "down"}
                    ],
                },
            ],
        }
    )
    assert chat["messages"][0] == {"role": "system", "content": "Be brief."}
    assert chat["messages"][2] == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "w", "arguments": '{"city": "Paris"}'}}
        ],
    }
    assert chat["messages"][3] == {"role": "tool", "tool_call_id": "t1", "content": "Error: down"}
    assert chat["tool_choice"] == "required" and chat["parallel_tool_calls"] is False


def test_count_tokens_grows_with_the_prompt() -> None:
    assert count_tokens({"messages": [{"role": "user", "content": "x" * 400}]})["input_tokens"] > 100


def test_only_the_dialect_paths_have_a_dialect() -> None:
    assert dialect_for("/v1/chat/completions") is None
    assert isinstance(dialect_for("/v1/responses"), ResponsesDialect)
    assert isinstance(dialect_for("/v1/messages/"), MessagesDialect)
    assert chat_events(b"data: [DONE]\n\n: keep-alive\n\ndata: {}\n\n") == [None, {}]


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
def test_a_body_that_is_not_json_is_a_400_in_anthropic_shape(
    both: tuple[FakeProvider, FakeProvider], path: str
) -> None:
    with create(config=mesh_config(*both, "openai")) as client:
        answer = client.mesh.begin(httpx2.Request("POST", f"http://modelmesh.local{path}", content=b"[1"))
    assert isinstance(answer, httpx2.Response) and answer.status_code == 400
    assert json.loads(answer.content)["type"] == "error"
