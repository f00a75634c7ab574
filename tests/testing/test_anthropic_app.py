"""The Anthropic-dialect endpoints (Messages API), driven with raw HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

from modelmesh.testing import FakeProvider

WEATHER_TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def message_request(text: str = "hi there", **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-small",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": text}],
        **extra,
    }


def parse_events(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.split("\n"))
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_base_url_is_the_host_root(anthropic_fake: FakeProvider) -> None:
    assert anthropic_fake.base_url == f"http://127.0.0.1:{anthropic_fake.port}"
    assert anthropic_fake.env("ANTHROPIC") == {
        "ANTHROPIC_API_KEY": "sk-test-claude",
        "ANTHROPIC_BASE_URL": anthropic_fake.base_url,
    }


def test_message_has_the_documented_shape(anthropic_http: httpx2.Client) -> None:
    response = anthropic_http.post("/v1/messages", json=message_request())
    assert response.status_code == 200
    assert response.headers["request-id"].startswith("req_")
    body = response.json()
    assert body["type"] == "message" and body["role"] == "assistant"
    assert body["model"] == "claude-small"
    assert body["content"] == [{"type": "text", "text": "Hello from claude-small! You said: hi there"}]
    assert (body["stop_reason"], body["stop_sequence"]) == ("end_turn", None)
    assert body["usage"] == {
        "input_tokens": 2,
        "output_tokens": 7,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def test_stream_events_come_in_the_documented_order(anthropic_http: httpx2.Client) -> None:
    response = anthropic_http.post("/v1/messages", json=message_request("hi", stream=True))
    events = parse_events(response.text)
    names = [name for name, _ in events]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert all(data["type"] == name for name, data in events)
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == "Hello from claude-small! You said: hi"
    start = events[0][1]["message"]
    assert (start["content"], start["stop_reason"], start["usage"]["input_tokens"]) == ([], None, 1)
    delta = events[-2][1]
    assert delta["delta"]["stop_reason"] == "end_turn"
    assert delta["usage"]["output_tokens"] == 6


def test_tool_use_non_stream(anthropic_http: httpx2.Client) -> None:
    body = message_request("Weather in 'Oslo'?", tools=[WEATHER_TOOL], tool_choice={"type": "any"})
    message = anthropic_http.post("/v1/messages", json=body).json()
    assert message["stop_reason"] == "tool_use"
    (block,) = message["content"]
    assert block["type"] == "tool_use" and block["id"].startswith("toolu_")
    assert (block["name"], block["input"]) == ("get_weather", {"city": "Oslo"})


def test_tool_use_stream_sends_input_json_deltas(anthropic_http: httpx2.Client) -> None:
    body = message_request("Weather in 'Oslo'?", tools=[WEATHER_TOOL], stream=True)
    events = parse_events(anthropic_http.post("/v1/messages", json=body).text)
    start = next(d for n, d in events if n == "content_block_start")
    assert start["content_block"]["type"] == "tool_use"
    assert start["content_block"]["input"] == {}
    deltas = [d["delta"] for n, d in events if n == "content_block_delta"]
    assert {d["type"] for d in deltas} == {"input_json_delta"}
    assert json.loads("".join(d["partial_json"] for d in deltas)) == {"city": "Oslo"}
    assert events[-2][1]["delta"]["stop_reason"] == "tool_use"


def test_tool_result_gets_a_text_answer(anthropic_http: httpx2.Client) -> None:
    body = message_request(tools=[WEATHER_TOOL])
    body["messages"] += [
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}}],
        },
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "rainy"}]},
    ]
    message = anthropic_http.post("/v1/messages", json=body).json()
    assert message["stop_reason"] == "end_turn"
    assert "rainy" in message["content"][0]["text"]


def test_max_tokens_maps_to_max_tokens_stop_reason(anthropic_http: httpx2.Client) -> None:
    message = anthropic_http.post("/v1/messages", json=message_request(max_tokens=2)).json()
    assert message["stop_reason"] == "max_tokens"
    assert message["content"][0]["text"] == "Hello from"


@pytest.mark.parametrize(
    ("headers", "status", "error_type"),
    [
        ({"x-api-key": "wrong", "anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ({"anthropic-version": "2023-06-01"}, 401, "authentication_error"),
        ({"x-api-key": "sk-test-claude"}, 400, "invalid_request_error"),
    ],
)
def test_credentials_and_version_are_required(
    anthropic_fake: FakeProvider, headers: dict[str, str], status: int, error_type: str
) -> None:
    with httpx2.Client(base_url=anthropic_fake.base_url, headers=headers) as http:
        response = http.post("/v1/messages", json=message_request())
    assert response.status_code == status
    assert response.json()["type"] == "error"
    assert response.json()["error"]["type"] == error_type


@pytest.mark.parametrize(
    ("change", "status", "error_type"),
    [
        ({"model": "claude-nope"}, 404, "not_found_error"),
        ({"max_tokens": None}, 400, "invalid_request_error"),
        ({"messages": []}, 400, "invalid_request_error"),
    ],
)
def test_invalid_requests_are_rejected(
    anthropic_http: httpx2.Client, change: dict[str, Any], status: int, error_type: str
) -> None:
    body = {k: v for k, v in {**message_request(), **change}.items() if v is not None}
    response = anthropic_http.post("/v1/messages", json=body)
    assert response.status_code == status
    assert response.json()["error"]["type"] == error_type


def test_bad_json_is_an_invalid_request(anthropic_http: httpx2.Client) -> None:
    response = anthropic_http.post(
        "/v1/messages", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_models_and_count_tokens(anthropic_http: httpx2.Client) -> None:
    models = anthropic_http.get("/v1/models").json()
    assert models["data"][0] == {
        "type": "model",
        "id": "claude-small",
        "display_name": "claude-small",
        "created_at": "2025-01-01T00:00:00Z",
    }
    assert (models["has_more"], models["first_id"], models["last_id"]) == (
        False,
        "claude-small",
        "claude-small",
    )
    assert anthropic_http.get("/v1/models/claude-small").json()["id"] == "claude-small"
    assert anthropic_http.get("/v1/models/other").status_code == 404
    counted = anthropic_http.post("/v1/messages/count_tokens", json=message_request("one two three"))
    assert counted.json() == {"input_tokens": 3}


def test_structured_output_format(anthropic_http: httpx2.Client) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    body = message_request("give 7", output_format={"type": "json_schema", "schema": schema})
    message = anthropic_http.post("/v1/messages", json=body).json()
    assert json.loads(message["content"][0]["text"]) == {"n": 7}
