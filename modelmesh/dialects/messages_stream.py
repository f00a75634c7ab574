"""The Anthropic Messages API's streamed events, made from the chat chunks the flow emits.

Owns the event sequence (``message_start``, ``content_block_start`` / ``_delta`` / ``_stop``,
``message_delta`` with the stop reason and usage, ``message_stop``), the ``error`` event that ends a stream
broken after content, and the ``Message`` shell and stop reasons shared with the whole answer. What a
request may hold is ``messages``' job.
"""

from __future__ import annotations

import uuid
from typing import Any

from modelmesh.dialects.base import chat_events, sse

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def message_object(chat_id: Any, model: Any, content: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": chat_id if str(chat_id).startswith("msg_") else f"msg_{chat_id or uuid.uuid4().hex}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }


class MessagesStream:
    """Chat chunks -> Anthropic stream events. Text is one block; each tool call is a block of its own that
    stays open while its arguments arrive (deltas carry their block's index), closed before new text."""

    def __init__(self) -> None:
        self.started = False
        self.ended = False
        self.open: dict[int, int] = {}  # chat tool index (-1: text) -> content block index
        self.blocks = 0
        self.finish: str | None = None
        self.usage: dict[str, Any] = {}

    def feed(self, chat_sse: bytes) -> bytes:
        out: list[bytes] = []
        for payload in chat_events(chat_sse):
            out.append(self._end() if payload is None else self._chunk(payload))
        return b"".join(out)

    def _chunk(self, chunk: dict[str, Any]) -> bytes:
        out = b""
        if not self.started:
            self.started = True
            message = message_object(chunk.get("id"), chunk.get("model"), [])
            out += sse("message_start", {"type": "message_start", "message": message})
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                if -1 not in self.open:
                    out += self._close() + self._start(-1, {"type": "text", "text": ""})
                out += self._delta(-1, {"type": "text_delta", "text": delta["content"]})
            for call in delta.get("tool_calls") or ():
                out += self._tool(call)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return out

    def _tool(self, call: dict[str, Any]) -> bytes:
        out, key = b"", call.get("index", 0)
        function = call.get("function") or {}
        if key not in self.open:
            out += self._close(-1)
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": call.get("id") or new_id("toolu"),
                "name": function.get("name") or "",
                "input": {},
            }
            out += self._start(key, block)
        if function.get("arguments"):
            out += self._delta(key, {"type": "input_json_delta", "partial_json": function["arguments"]})
        return out

    def _start(self, key: int, block: dict[str, Any]) -> bytes:
        index = self.open[key] = self.blocks
        self.blocks += 1
        return sse(
            "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
        )

    def _delta(self, key: int, delta: dict[str, Any]) -> bytes:
        index = self.open[key]
        return sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})

    def _close(self, only: int | None = None) -> bytes:
        """Stop the open blocks (or only the one for chat index ``only``), in order."""
        keys = list(self.open) if only is None else [only] if only in self.open else []
        out = b""
        for key in sorted(keys, key=self.open.__getitem__):
            out += sse("content_block_stop", {"type": "content_block_stop", "index": self.open.pop(key)})
        return out

    def _end(self) -> bytes:
        if self.ended:
            return b""
        self.ended = True
        out = (b"" if self.started else self._chunk({})) + self._close()
        usage = {
            "input_tokens": self.usage.get("prompt_tokens") or 0,
            "output_tokens": self.usage.get("completion_tokens") or 0,
        }
        delta = {"stop_reason": STOP_REASONS.get(self.finish or "stop", "end_turn"), "stop_sequence": None}
        out += sse("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
        return out + sse("message_stop", {"type": "message_stop"})

    def error_event(self, message: str) -> bytes:
        error = {"type": "api_error", "message": message}
        return sse("error", {"type": "error", "error": error})
