"""The offline token estimate."""

from __future__ import annotations

from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import tool

from langchain_modelmesh.tokens import estimate_message_tokens, estimate_token_ids


def test_words_and_punctuation_count_one_each() -> None:
    assert len(estimate_token_ids("Hello, world!")) == 4


def test_long_words_count_one_token_per_six_characters() -> None:
    assert len(estimate_token_ids("internationalization")) == 4  # 20 characters


def test_ids_are_stable() -> None:
    assert estimate_token_ids("same text") == estimate_token_ids("same text")


def test_messages_add_framing_tool_calls_and_tool_schemas() -> None:
    @tool
    def lookup(city: str) -> str:
        """Look a city up."""
        return city

    plain = estimate_message_tokens([HumanMessage("rain in Paris")])
    assert plain == 3 + 3 + 3
    call = AIMessage("", tool_calls=[{"name": "lookup", "args": {"city": "Paris"}, "id": "1"}])
    assert estimate_message_tokens([HumanMessage("rain in Paris"), call]) > plain + 3
    assert estimate_message_tokens([HumanMessage("rain in Paris")], [lookup]) > plain


def test_content_parts_count_their_text() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:,"}}
    parts = HumanMessage(content=[{"type": "text", "text": "one two"}, image])
    assert estimate_message_tokens([parts]) == 3 + 3 + 2
