"""Deterministic values that satisfy a JSON schema, filled from the words of a prompt.

Used by the default responder for tool-call arguments and structured (``json_schema``) output. The rules
are simple on purpose, so tests can predict them:

- integer / number: the first number in the prompt (``"magic_function(3)"`` gives 3), else 0, clamped
  to ``minimum`` / ``maximum``;
- string: the first quoted phrase of the prompt (``'José'``), else its last word, else ``"test"``;
  ``format`` date / date-time / email / uri get a fixed valid value;
- boolean: false; null: null; array: ``minItems`` items (none by default); enum / const: the first value;
- object: its ``required`` properties (all properties when there is no ``required`` list);
- ``$ref`` into ``$defs`` / ``definitions``, ``anyOf`` / ``oneOf`` (first non-null branch) and ``allOf``
  (merged) are followed.

It is not a validator and does not try to satisfy ``pattern``, ``minLength`` or conditional schemas.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
_QUOTED = re.compile(r"'([^']+)'|\"([^\"]+)\"")
_WORD = re.compile(r"\w+", re.UNICODE)
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00",
    "email": "test@example.com",
    "uri": "https://example.com",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
_MAX_DEPTH = 8


@dataclass(frozen=True)
class PromptHints:
    """What a prompt offers to fill values with."""

    number: int | float | None
    text: str

    @classmethod
    def from_prompt(cls, prompt: str) -> PromptHints:
        match = _NUMBER.search(prompt)
        number: int | float | None = None
        if match:
            number = float(match.group()) if "." in match.group() else int(match.group())
        quoted = _QUOTED.search(prompt)
        words = _WORD.findall(prompt)
        if quoted:
            text = quoted.group(1) or quoted.group(2)
        elif words:
            text = words[-1]
        else:
            text = "test"
        return cls(number=number, text=text)


def quoted_names(prompt: str) -> list[str]:
    """Identifiers quoted in a prompt (``'setup' and 'punchline'``), in order, without repeats."""
    names: list[str] = []
    for match in _QUOTED.finditer(prompt):
        name = match.group(1) or match.group(2)
        if re.fullmatch(r"[A-Za-z_]\w*", name) and name not in names:
            names.append(name)
    return names


def value_for(schema: dict[str, Any], hints: PromptHints) -> Any:
    """A value valid for ``schema`` (within the rules in the module docstring)."""
    return _value(schema, hints, root=schema, depth=0)


def _value(schema: Any, hints: PromptHints, *, root: dict[str, Any], depth: int) -> Any:
    if not isinstance(schema, dict) or depth > _MAX_DEPTH:
        return None
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            return _value(_first_non_null(branches, root), hints, root=root, depth=depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            resolved = _resolve(part, root) if isinstance(part, dict) else {}
            merged.setdefault("properties", {}).update(resolved.get("properties", {}))
            merged.setdefault("required", []).extend(resolved.get("required", []))
            merged.setdefault("type", resolved.get("type"))
        return _value(merged, hints, root=root, depth=depth + 1)
    kind = _type_of(schema)
    if kind == "object":
        return _object(schema, hints, root=root, depth=depth)
    if kind == "array":
        count = int(schema.get("minItems", 0) or 0)
        return [_value(schema.get("items", {}), hints, root=root, depth=depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, hints, integer=kind == "integer")
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _FORMATS.get(str(schema.get("format")), hints.text)  # strings, and schemas without a type


def _object(
    schema: dict[str, Any], hints: PromptHints, *, root: dict[str, Any], depth: int
) -> dict[str, Any]:
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return {}
    required = schema.get("required")
    names = [n for n in required if n in properties] if isinstance(required, list) else list(properties)
    return {name: _value(properties[name], hints, root=root, depth=depth + 1) for name in names}


def _number(schema: dict[str, Any], hints: PromptHints, *, integer: bool) -> int | float:
    value: float = hints.number if hints.number is not None else 0
    if isinstance(schema.get("minimum"), int | float):
        value = max(value, schema["minimum"])
    if isinstance(schema.get("maximum"), int | float):
        value = min(value, schema["maximum"])
    if integer:
        return int(value)
    return value


def _type_of(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        non_null = [k for k in kind if k != "null"]
        kind = non_null[0] if non_null else "null"
    if kind is None and "properties" in schema:
        return "object"
    return kind if isinstance(kind, str) else None


def _first_non_null(branches: list[Any], root: dict[str, Any]) -> Any:
    for branch in branches:
        if isinstance(branch, dict) and _resolve(branch, root).get("type") != "null":
            return branch
    return branches[0]


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (``#/$defs/Name``); unknown refs resolve to an empty schema."""
    seen = 0
    while isinstance(schema.get("$ref"), str) and seen < _MAX_DEPTH:
        target: Any = root
        for part in schema["$ref"].lstrip("#/").split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**(target if isinstance(target, dict) else {}), **extra}
        seen += 1
    return schema
