"""Claude's answer back into the OpenAI shape: the stream translator and the pieces the whole body shares.

Owns the mapping of Anthropic ``stop_reason`` and ``usage`` to OpenAI's ``finish_reason`` and ``usage``,
and ``AnthropicStreamTranslator``, which turns Messages API server-sent events into
``chat.completion.chunk`` dicts. An ``error`` event raises ``AnthropicStreamError`` (a ``ConnectorError``)
carrying a classified ``Failure``, so the engine treats a mid-stream overload exactly like an HTTP 529; a
malformed event raises ``ValueError`` and is skipped, as in the OpenAI dialect.

Deliberately not here: parsing the SSE framing (the transport hands over ``event`` and ``data``), I/O,
and error classification itself (the connector's ``classify`` is injected, so the table lives in one
place). Thinking, citations and server-tool blocks are skipped: Chat Completions has no place for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from modelmesh.connectors.base import ConnectorError, Failure

_FINISH_REASONS: dict[str, str] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

# An ``error`` event carries no HTTP status; these are the statuses Anthropic documents for each type,
# so a stream error is classified by the very same table as an HTTP error.
STREAM_ERROR_STATUS: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}

Classifier = Callable[[int, Mapping[str, str], bytes], Failure]


class AnthropicStreamError(ConnectorError):
    """An Anthropic stream that failed after its HTTP 200: ``failure`` says what it means for routing."""


def finish_reason(stop_reason: str | None, *, has_tool_calls: bool) -> str:
    """Anthropic ``stop_reason`` -> OpenAI ``finish_reason``.

    A forced structured-output tool ends with ``tool_use`` but reaches the caller as content, so without
    real tool calls it reads ``stop``.
    """
    reason = _FINISH_REASONS.get(stop_reason or "end_turn", "stop")
    return "stop" if reason == "tool_calls" and not has_tool_calls else reason


def openai_usage(usage: Mapping[str, Any]) -> dict[str, Any]:
    """Anthropic usage -> OpenAI usage. Anthropic's ``input_tokens`` excludes cached tokens; OpenAI's
    ``prompt_tokens`` includes them, so both cache counters are added back."""
    fresh = int(usage.get("input_tokens") or 0)
    written = int(usage.get("cache_creation_input_tokens") or 0)
    read = int(usage.get("cache_read_input_tokens") or 0)
    completion = int(usage.get("output_tokens") or 0)
    prompt = fresh + written + read
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": read},
    }


class AnthropicStreamTranslator:
    """Translates one Anthropic Messages stream; one instance per stream (it keeps the stream's state)."""

    def __init__(
        self,
        *,
        model_id: str,
        created: int,
        include_usage: bool,
        structured_tool: str | None,
        classify: Classifier,
    ) -> None:
        self._id = ""
        self._model = model_id
        self._created = created
        self._include_usage = include_usage
        self._structured_tool = structured_tool
        self._classify = classify
        self._usage: dict[str, Any] = {}
        self._tool_index: dict[int, int] = {}  # Anthropic content-block index -> OpenAI tool_call index
        self._structured_blocks: set[int] = set()
        self._finish_sent = False
        self._finished = False

    @property
    def finished(self) -> bool:
        return self._finished

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        if not data.strip():
            return []
        payload = json.loads(data)  # a malformed event raises ValueError: the monitor skips and counts it
        if not isinstance(payload, dict):
            raise ValueError("Anthropic stream event is not a JSON object")
        kind = event or payload.get("type")
        handler = self._handlers.get(str(kind))
        # Unknown event types are skipped: Anthropic documents that new ones may appear at any time.
        return handler(self, payload) if handler else []

    def _on_message_start(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        message = payload.get("message") or {}
        self._id = str(message.get("id") or self._id)
        self._model = str(message.get("model") or self._model)
        self._usage.update(message.get("usage") or {})
        return [self._chunk({"role": "assistant", "content": ""})]

    def _on_block_start(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        index = int(payload.get("index", 0))
        block = payload.get("content_block") or {}
        if block.get("type") == "text" and block.get("text"):
            return self._text(str(block["text"]))
        if block.get("type") != "tool_use":
            return []
        if self._structured_tool is not None and block.get("name") == self._structured_tool:
            self._structured_blocks.add(index)
            return []
        position = self._tool_index[index] = len(self._tool_index)
        call = {
            "index": position,
            "id": block.get("id"),
            "type": "function",
            "function": {"name": block.get("name"), "arguments": ""},
        }
        return [self._chunk({"tool_calls": [call]})]

    def _on_block_delta(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        index = int(payload.get("index", 0))
        delta = payload.get("delta") or {}
        if delta.get("type") == "text_delta":
            return self._text(str(delta.get("text") or ""))
        if delta.get("type") != "input_json_delta" or not delta.get("partial_json"):
            return []
        piece = str(delta["partial_json"])
        if index in self._structured_blocks:
            return [self._chunk({"content": piece})]
        if index in self._tool_index:
            call = {"index": self._tool_index[index], "function": {"arguments": piece}}
            return [self._chunk({"tool_calls": [call]})]
        return []

    def _on_message_delta(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        # message_delta usage counters are cumulative, so they replace the message_start values.
        self._usage.update({k: v for k, v in (payload.get("usage") or {}).items() if v is not None})
        stop_reason = (payload.get("delta") or {}).get("stop_reason")
        return self._finish(stop_reason) if stop_reason else []

    def _on_message_stop(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        return self._finish("end_turn")

    def _on_error(self, payload: dict[str, Any]) -> list[dict[str, Any]]:
        error = payload.get("error") or {}
        status = STREAM_ERROR_STATUS.get(str(error.get("type")), 500)
        raise AnthropicStreamError(self._classify(status, {}, json.dumps(payload).encode()))

    def _text(self, text: str) -> list[dict[str, Any]]:
        # Under structured output only the schema tool's JSON is the answer; stray prose would break it.
        if not text or self._structured_tool is not None:
            return []
        return [self._chunk({"content": text})]

    def _finish(self, stop_reason: str) -> list[dict[str, Any]]:
        self._finished = True
        if self._finish_sent:
            return []
        self._finish_sent = True
        # Emitted here rather than on message_stop: the transport may stop reading once ``finished``.
        reason = finish_reason(stop_reason, has_tool_calls=bool(self._tool_index))
        chunks = [self._chunk({}, finish=reason)]
        if self._include_usage:
            chunks.append({**self._envelope(), "choices": [], "usage": openai_usage(self._usage)})
        return chunks

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {**self._envelope(), "choices": [choice]}

    def _envelope(self) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self._model,
        }

    _handlers: dict[str, Callable[[AnthropicStreamTranslator, dict[str, Any]], list[dict[str, Any]]]] = {
        "message_start": _on_message_start,
        "content_block_start": _on_block_start,
        "content_block_delta": _on_block_delta,
        "message_delta": _on_message_delta,
        "message_stop": _on_message_stop,
        "error": _on_error,
    }
