"""A dialect-neutral reading of a chat request, for the default responder.

:func:`read_conversation` takes an OpenAI Chat Completions or an Anthropic Messages request body and
returns what the responder needs to know: the texts of the messages, the last user text, whether the
conversation ends with a tool result (and its content), the tools offered, the tool choice, the
structured-output schema and the token limit. It does not validate requests (the servers do that)
and it ignores what a fake cannot use (images, audio, documents).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ToolChoice = str  # "auto" | "none" | "required" | "tool:<name>"


@dataclass(frozen=True)
class ToolSpec:
    """One tool offered to the model: its name and the JSON schema of its arguments."""

    name: str
    schema: dict[str, Any]


@dataclass(frozen=True)
class Conversation:
    texts: list[str] = field(default_factory=list)
    last_user_text: str = ""
    tool_result: str | None = None
    tools: list[ToolSpec] = field(default_factory=list)
    tool_choice: ToolChoice = "auto"
    output_schema: dict[str, Any] | None = None
    json_mode: bool = False
    max_tokens: int | None = None
    stop: list[str] = field(default_factory=list)

    @property
    def prompt_words(self) -> int:
        """Prompt size in whitespace-separated words over all message text (at least 1)."""
        return max(1, sum(len(t.split()) for t in self.texts))


def read_conversation(body: dict[str, Any]) -> Conversation:
    """Read an OpenAI (``messages`` with roles) or Anthropic (``system`` + blocks) chat request."""
    texts: list[str] = []
    system = body.get("system")
    if system is not None:
        texts.append(_text_of(system))
    last_user = ""
    tool_result: str | None = None
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        content = message.get("content")
        text = _text_of(content)
        texts.append(text)
        results = _anthropic_tool_results(content)
        if role == "tool":  # parallel tool calls answer in consecutive tool messages
            tool_result = text if tool_result is None else f"{tool_result} {text}"
        elif results is not None:
            tool_result = results
            texts[-1] = results
        else:
            tool_result = None
            if role == "user":
                last_user = text
    schema, json_mode = _output_format(body)
    return Conversation(
        texts=texts,
        last_user_text=last_user,
        tool_result=tool_result,
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        output_schema=schema,
        json_mode=json_mode,
        max_tokens=_max_tokens(body),
        stop=_stops(body),
    )


def _text_of(content: Any) -> str:
    """The text in a message content: a string, or the text parts of a list of parts/blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    parts.append(part["text"])
                elif part.get("type") == "tool_result":
                    parts.append(_text_of(part.get("content")))
        return " ".join(p for p in parts if p)
    return str(content)


def _anthropic_tool_results(content: Any) -> str | None:
    """The text of the ``tool_result`` blocks in an Anthropic user message, or None if it has none."""
    if not isinstance(content, list):
        return None
    results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
    if not results:
        return None
    return " ".join(_text_of(b.get("content")) for b in results)


def _tools(raw: Any) -> list[ToolSpec]:
    tools: list[ToolSpec] = []
    for tool in raw or []:
        if not isinstance(tool, dict):
            continue
        function = tool.get("function")
        if isinstance(function, dict) and "name" in function:  # OpenAI
            tools.append(ToolSpec(str(function["name"]), function.get("parameters") or {}))
        elif "name" in tool:  # Anthropic
            tools.append(ToolSpec(str(tool["name"]), tool.get("input_schema") or {}))
    return tools


def _tool_choice(raw: Any) -> ToolChoice:
    if raw is None:
        return "auto"
    if isinstance(raw, str):
        return {"any": "required"}.get(raw, raw)
    if isinstance(raw, dict):
        kind = raw.get("type")
        function = raw.get("function")
        if isinstance(function, dict) and function.get("name"):
            return f"tool:{function['name']}"
        if kind == "tool" and raw.get("name"):
            return f"tool:{raw['name']}"
        if kind == "any":
            return "required"
        if kind in ("auto", "none"):
            return str(kind)
    return "auto"


def _output_format(body: dict[str, Any]) -> tuple[dict[str, Any] | None, bool]:
    """(json schema, json mode) from OpenAI ``response_format`` or Anthropic ``output_format``."""
    fmt = body.get("response_format") or body.get("output_format")
    config = body.get("output_config")
    if fmt is None and isinstance(config, dict):
        fmt = config.get("format")
    if not isinstance(fmt, dict):
        return None, False
    if fmt.get("type") == "json_object":
        return None, True
    if fmt.get("type") == "json_schema":
        wrapper = fmt.get("json_schema")
        schema = wrapper.get("schema") if isinstance(wrapper, dict) else fmt.get("schema")
        if isinstance(schema, str):
            schema = json.loads(schema)
        return (schema if isinstance(schema, dict) else {}), False
    return None, False


def _max_tokens(body: dict[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _stops(body: dict[str, Any]) -> list[str]:
    raw = body.get("stop", body.get("stop_sequences"))
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list):
        return [s for s in raw if isinstance(s, str) and s]
    return []
