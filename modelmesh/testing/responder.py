"""What a fake model says: the :class:`Reply` value and the deterministic default responder.

A responder is any ``callable(request_json: dict, model: str) -> Reply``; the dialect servers turn the
reply into the wire format. The default one is prompt-aware so that agent loops and LangChain's
standard tests behave as with a real model:

- plain chat: ``"Hello from {model}! You said: {last user text, cut to 60 chars}"``;
- tools offered (and ``tool_choice`` not ``"none"``, and the conversation not ending in a tool
  result): one call of the tool named by ``tool_choice``, else of the first tool, with arguments made
  from its schema by :mod:`modelmesh.testing.schema_values`; finish reason ``tool_calls``;
- after a tool result: ``"The tool returned: {result}"`` (with the model name);
- ``json_schema`` output: a JSON object from the schema; ``json_object``: the identifiers quoted in
  the prompt as keys (``{"setup": ..., "punchline": ...}``), else ``{"answer": ...}``;
- ``stop`` sequences cut the text; ``max_tokens`` cuts it to that many words (finish reason ``length``).

It does not try to answer questions; the dialect modules count tokens as whitespace words.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelmesh.testing.conversation import Conversation, ToolSpec, read_conversation
from modelmesh.testing.schema_values import PromptHints, quoted_names, value_for

ECHO_CHARS = 60


@dataclass(frozen=True)
class ToolCall:
    """A call of tool ``name``; ``arguments`` as a dict or an already-encoded JSON string."""

    name: str
    arguments: dict[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False)

    @property
    def arguments_dict(self) -> dict[str, Any]:
        if isinstance(self.arguments, dict):
            return self.arguments
        loaded = json.loads(self.arguments or "{}")
        return loaded if isinstance(loaded, dict) else {"value": loaded}


@dataclass(frozen=True)
class Reply:
    """What the model answers: text, tool calls, or both.

    ``finish_reason`` uses OpenAI's words (``stop``, ``length``, ``tool_calls``, ``content_filter``);
    the Anthropic server maps them to ``end_turn``, ``max_tokens``, ``tool_use``, ``refusal``. A reply
    with tool calls and the default ``"stop"`` finishes with ``tool_calls``. ``tool_calls`` items may be
    :class:`ToolCall` or mappings ``{"name": ..., "arguments": {...}}``.
    """

    text: str | None = None
    tool_calls: Sequence[ToolCall | Mapping[str, Any]] | None = None
    finish_reason: str = "stop"

    @property
    def calls(self) -> list[ToolCall]:
        """The tool calls as :class:`ToolCall` values."""
        out: list[ToolCall] = []
        for call in self.tool_calls or []:
            if isinstance(call, ToolCall):
                out.append(call)
            else:
                out.append(ToolCall(str(call["name"]), call.get("arguments") or {}, call.get("id")))
        return out

    @property
    def effective_finish_reason(self) -> str:
        if self.tool_calls and self.finish_reason == "stop":
            return "tool_calls"
        return self.finish_reason

    @property
    def completion_words(self) -> int:
        """Completion size in whitespace words of the text and tool arguments (at least 1)."""
        words = len((self.text or "").split())
        words += sum(len(c.arguments_json.split()) for c in self.calls)
        return max(1, words)


Responder = Callable[[dict[str, Any], str], Reply]


def default_responder(request_json: dict[str, Any], model: str) -> Reply:
    """The deterministic, prompt-aware answer described in the module docstring."""
    conversation = read_conversation(request_json)
    hints = PromptHints.from_prompt(conversation.last_user_text)
    tool = _tool_to_call(conversation)
    if tool is not None:
        return Reply(tool_calls=[ToolCall(tool.name, value_for(tool.schema, hints))])
    if conversation.output_schema is not None:
        return Reply(text=json.dumps(value_for(conversation.output_schema, hints), ensure_ascii=False))
    if conversation.json_mode:
        keys = quoted_names(conversation.last_user_text) or ["answer"]
        return Reply(text=json.dumps({k: hints.text for k in keys}, ensure_ascii=False))
    if conversation.tool_result is not None:
        text = f"The tool returned: {conversation.tool_result} (answered by {model})"
    else:
        said = conversation.last_user_text[:ECHO_CHARS]
        text = f"Hello from {model}! You said: {said}"
    return _limited(text, conversation)


def _tool_to_call(conversation: Conversation) -> ToolSpec | None:
    if not conversation.tools or conversation.tool_result is not None:
        return None
    choice = conversation.tool_choice
    if choice == "none":
        return None
    if choice.startswith("tool:"):
        wanted = choice.removeprefix("tool:")
        for tool in conversation.tools:
            if tool.name == wanted:
                return tool
    return conversation.tools[0]


def _limited(text: str, conversation: Conversation) -> Reply:
    """Apply stop sequences, then the token limit (one token per word)."""
    for stop in conversation.stop:
        index = text.find(stop)
        if index >= 0:
            text = text[:index]
    limit = conversation.max_tokens
    words = text.split(" ")
    if limit is not None and len(text.split()) > limit:
        return Reply(text=" ".join(words[:limit]), finish_reason="length")
    return Reply(text=text)
