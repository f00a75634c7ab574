"""Values generated from JSON schemas and prompt hints."""

from __future__ import annotations

from typing import Any

import pytest

from modelmesh.testing.schema_values import PromptHints, quoted_names, value_for


def hints(prompt: str) -> PromptHints:
    return PromptHints.from_prompt(prompt)


def test_numbers_come_from_the_prompt() -> None:
    schema = {"type": "object", "properties": {"input": {"type": "integer"}}, "required": ["input"]}
    assert value_for(schema, hints("What is the value of magic_function(3)? Use the tool.")) == {"input": 3}
    assert value_for(schema, hints("no digits here")) == {"input": 0}


def test_numbers_are_clamped_to_bounds() -> None:
    schema = {"type": "number", "minimum": 10, "maximum": 20}
    assert value_for(schema, hints("take 3.5")) == 10
    assert value_for({"type": "number"}, hints("take 3.5")) == 3.5


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("Create a customer named '你好啊集团' (Hello Group)", "你好啊集团"),
        ('Say "hi there" please', "hi there"),
        ("Tell me a joke about cats.", "cats"),
        ("", "test"),
    ],
)
def test_strings_prefer_quoted_phrases_then_the_last_word(prompt: str, expected: str) -> None:
    assert value_for({"type": "string"}, hints(prompt)) == expected


def test_only_required_properties_are_filled() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "boolean"}, "b": {"type": "array"}, "c": {"type": "string"}},
        "required": ["a", "b", "missing"],
    }
    assert value_for(schema, hints("x")) == {"a": False, "b": []}


def test_without_required_every_property_is_filled() -> None:
    schema = {"properties": {"a": {"type": ["string", "null"]}, "n": {"type": "null"}}}
    assert value_for(schema, hints("word")) == {"a": "word", "n": None}


def test_refs_anyof_enum_and_formats_are_followed() -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "$defs": {
            "Colour": {"enum": ["red", "green"]},
            "Inner": {"properties": {"when": {"format": "date"}}},
        },
        "properties": {
            "colour": {"$ref": "#/$defs/Colour"},
            "inner": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/Inner"}]},
            "fixed": {"const": 7},
            "items": {"type": "array", "items": {"type": "integer"}, "minItems": 2},
            "both": {"allOf": [{"properties": {"x": {"type": "integer"}}, "required": ["x"]}]},
        },
    }
    value = value_for(schema, hints("pick 4"))
    assert value == {
        "colour": "red",
        "inner": {"when": "2024-01-01"},
        "fixed": 7,
        "items": [4, 4],
        "both": {"x": 4},
    }


def test_quoted_names_are_identifiers_in_order() -> None:
    prompt = "Return JSON with 'setup' and 'punchline' keys, not 'two words' or 'setup' again."
    assert quoted_names(prompt) == ["setup", "punchline"]
