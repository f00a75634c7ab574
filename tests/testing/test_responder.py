"""The default responder and the Reply value."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelmesh.testing import Reply, ToolCall, default_responder

MAGIC = {
    "type": "function",
    "function": {
        "name": "magic_function",
        "parameters": {"type": "object", "properties": {"input": {"type": "integer"}}, "required": ["input"]},
    },
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **extra}


def test_plain_chat_names_the_model_and_echoes_the_prompt() -> None:
    reply = default_responder(chat("hi there"), "m-1")
    assert reply == Reply(text="Hello from m-1! You said: hi there")


def test_echo_is_cut_to_sixty_characters() -> None:
    reply = default_responder(chat("x" * 100), "m")
    assert reply.text == "Hello from m! You said: " + "x" * 60


def test_tools_produce_a_call_of_the_first_tool_with_schema_arguments() -> None:
    reply = default_responder(chat("What is the value of magic_function(3)?", tools=[MAGIC, WEATHER]), "m")
    assert reply.calls == [ToolCall("magic_function", {"input": 3})]
    assert reply.effective_finish_reason == "tool_calls"


@pytest.mark.parametrize(
    "choice",
    [{"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}],
)
def test_tool_choice_names_the_tool(choice: dict[str, Any]) -> None:
    reply = default_responder(chat("weather in 'Paris'", tools=[MAGIC, WEATHER], tool_choice=choice), "m")
    assert reply.calls == [ToolCall("get_weather", {"city": "Paris"})]


def test_tool_choice_none_answers_in_text() -> None:
    reply = default_responder(chat("hi", tools=[MAGIC], tool_choice="none"), "m")
    assert reply.tool_calls is None
    assert reply.text is not None


def test_after_a_tool_result_the_answer_mentions_it() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "magic_function(3)?"},
            {"role": "assistant", "tool_calls": [{"id": "c", "type": "function"}]},
            {"role": "tool", "tool_call_id": "c", "content": "5"},
        ],
        "tools": [MAGIC],
    }
    reply = default_responder(body, "m")
    assert reply.tool_calls is None
    assert reply.text == "The tool returned: 5 (answered by m)"


def test_json_schema_output_follows_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {"setup": {"type": "string"}, "rating": {"type": "integer"}},
        "required": ["setup", "rating"],
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "Joke", "schema": schema, "strict": True}}
    reply = default_responder(chat("Tell me a joke about cats, 5 stars.", response_format=fmt), "m")
    assert json.loads(reply.text or "") == {"setup": "stars", "rating": 5}


def test_json_mode_uses_quoted_keys_or_answer() -> None:
    prompt = "Tell me a joke. Return a JSON with 'setup' and 'punchline' keys."
    keyed = default_responder(chat(prompt, response_format={"type": "json_object"}), "m")
    assert set(json.loads(keyed.text or "")) == {"setup", "punchline"}
    plain = default_responder(chat("hi", response_format={"type": "json_object"}), "m")
    assert json.loads(plain.text or "") == {"answer": "hi"}


def test_stop_sequences_and_max_tokens_cut_the_text() -> None:
    stopped = default_responder(chat("hi", stop=["!"]), "m")
    assert stopped == Reply(text="Hello from m")
    limited = default_responder(chat("hi", max_tokens=2), "m")
    assert limited == Reply(text="Hello from", finish_reason="length")


def test_reply_accepts_mapping_tool_calls_and_counts_words() -> None:
    reply = Reply(text="two words", tool_calls=[{"name": "f", "arguments": '{"a": 1}'}])
    assert reply.calls == [ToolCall("f", '{"a": 1}')]
    assert reply.calls[0].arguments_dict == {"a": 1}
    assert reply.completion_words == 4
    assert Reply().completion_words == 1
    assert Reply(tool_calls=[ToolCall("f")], finish_reason="length").effective_finish_reason == "length"
