"""Reading OpenAI and Anthropic chat requests into one view."""

from __future__ import annotations

from modelmesh.testing.conversation import read_conversation


def test_openai_messages_and_multipart_content() -> None:
    body = {
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello"}, {"type": "image_url"}]},
        ],
        "max_completion_tokens": 5,
        "stop": "x",
    }
    conversation = read_conversation(body)
    assert conversation.last_user_text == "hello"
    assert conversation.prompt_words == 3
    assert conversation.tool_result is None
    assert (conversation.max_tokens, conversation.stop) == (5, ["x"])


def test_openai_tool_results_end_the_conversation() -> None:
    body = {
        "messages": [
            {"role": "user", "content": "use it"},
            {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}]},
            {"role": "tool", "tool_call_id": "1", "content": "42"},
            {"role": "tool", "tool_call_id": "2", "content": "43"},
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
    }
    conversation = read_conversation(body)
    assert conversation.tool_result == "42 43"
    assert conversation.tools[0].name == "f"
    assert conversation.tool_choice == "tool:f"


def test_anthropic_system_blocks_tools_and_tool_results() -> None:
    body = {
        "system": [{"type": "text", "text": "sys"}],
        "messages": [
            {"role": "user", "content": "call it"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "sunny"}]},
        ],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "any"},
        "stop_sequences": ["END"],
    }
    conversation = read_conversation(body)
    assert conversation.tool_result == "sunny"
    assert conversation.last_user_text == "call it"
    assert conversation.tool_choice == "required"
    assert conversation.stop == ["END"]


def test_output_formats_of_both_dialects() -> None:
    schema = {"type": "object", "properties": {}}
    openai_body = {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": schema}}}
    anthropic_body = {"output_format": {"type": "json_schema", "schema": schema}}
    assert read_conversation(openai_body).output_schema == schema
    assert read_conversation(anthropic_body).output_schema == schema
    assert read_conversation({"response_format": {"type": "json_object"}}).json_mode
    assert read_conversation({"response_format": {"type": "text"}}).output_schema is None
