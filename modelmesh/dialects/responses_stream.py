"""The OpenAI Responses API's streamed events, made from the chat chunks the flow emits.

Owns the event sequence (``response.created``, ``response.in_progress``, ``response.output_item.added``,
``response.content_part.added``, ``response.output_text.delta``, ``response.function_call_arguments.delta``,
the ``.done`` events, ``response.completed`` or ``response.incomplete``), each with its
``sequence_number``. The ``Response`` object and its output items are ``responses_object``'s, shared
with the whole answer; what a request may hold is ``responses``'.
"""

from __future__ import annotations

from typing import Any

from modelmesh.dialects.base import chat_events, sse
from modelmesh.dialects.responses_object import call_item, message_item, new_id, response_object


class ResponsesStream:
    """Chat chunks -> ``response.*`` events; items open as their first delta arrives, close at the end."""

    def __init__(self, request: dict[str, Any]) -> None:
        self.request = request  # the caller's body, echoed in every snapshot
        self.seq = 0
        self.started = False
        self.chat_id: Any = None
        self.model: Any = None
        self.usage: Any = None
        self.finish: Any = None
        self.items: list[dict[str, Any]] = []  # output items in order, each with its text/arguments so far
        self.text_item: dict[str, Any] | None = None
        self.calls: dict[int, dict[str, Any]] = {}  # chat tool-call index -> its item
        self.ended = False

    def _event(self, kind: str, **data: Any) -> bytes:
        self.seq += 1
        return sse(kind, {"type": kind, "sequence_number": self.seq - 1, **data})

    def feed(self, chat_sse: bytes) -> bytes:
        out: list[bytes] = []
        for payload in chat_events(chat_sse):
            if payload is None:
                out.append(self._end())
            else:
                out.append(self._chunk(payload))
        return b"".join(out)

    def _snapshot(self, status: str) -> dict[str, Any]:
        output = [self._item(item) for item in self.items] if status != "in_progress" else []
        response = response_object(self.request, self.chat_id, self.model, output, self.usage, self.finish)
        if status == "in_progress":
            response.update(status="in_progress", usage=None, incomplete_details=None)
        return response

    def _chunk(self, chunk: dict[str, Any]) -> bytes:
        out: list[bytes] = []
        self.chat_id = self.chat_id or chunk.get("id")
        self.model = chunk.get("model") or self.model
        if not self.started:
            self.started = True
            out.append(self._event("response.created", response=self._snapshot("in_progress")))
            out.append(self._event("response.in_progress", response=self._snapshot("in_progress")))
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                out.append(self._text(delta["content"]))
            for call in delta.get("tool_calls") or ():
                out.append(self._call(call))
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]
        return b"".join(out)

    def _text(self, text: str) -> bytes:
        out = b""
        item = self.text_item
        if item is None:
            item = self.text_item = {
                "type": "message",
                "id": new_id("msg"),
                "text": "",
                "index": len(self.items),
            }
            self.items.append(item)
            added = message_item(item["id"], "", status="in_progress")
            added["content"] = []
            out += self._event("response.output_item.added", output_index=item["index"], item=added)
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out += self._event(
                "response.content_part.added",
                item_id=item["id"],
                output_index=item["index"],
                content_index=0,
                part=part,
            )
        item["text"] += text
        return out + self._event(
            "response.output_text.delta",
            item_id=item["id"],
            output_index=item["index"],
            content_index=0,
            delta=text,
            logprobs=[],
        )

    def _call(self, call: dict[str, Any]) -> bytes:
        out = b""
        index = call.get("index", 0)
        function = call.get("function") or {}
        item = self.calls.get(index)
        if item is None:
            item = {
                "type": "function_call",
                "id": new_id("fc"),
                "call_id": call.get("id") or new_id("call"),
                "name": function.get("name") or "",
                "text": "",
                "index": len(self.items),
            }
            self.calls[index] = item
            self.items.append(item)
            added = call_item(item["id"], item["call_id"], item["name"], "", "in_progress")
            out += self._event("response.output_item.added", output_index=item["index"], item=added)
        arguments = function.get("arguments") or ""
        if arguments:
            item["text"] += arguments
            out += self._event(
                "response.function_call_arguments.delta",
                item_id=item["id"],
                output_index=item["index"],
                delta=arguments,
            )
        return out

    def _item(self, item: dict[str, Any]) -> dict[str, Any]:
        if item["type"] == "message":
            return message_item(item["id"], item["text"])
        return call_item(item["id"], item["call_id"], item["name"], item["text"])

    def _end(self) -> bytes:
        if self.ended:
            return b""
        self.ended = True
        out = b"" if self.started else self._chunk({})
        for item in self.items:
            index, done = item["index"], self._item(item)
            if item["type"] == "message":
                part = done["content"][0]
                out += self._event(
                    "response.output_text.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    text=item["text"],
                    logprobs=[],
                )
                out += self._event(
                    "response.content_part.done",
                    item_id=item["id"],
                    output_index=index,
                    content_index=0,
                    part=part,
                )
            else:
                out += self._event(
                    "response.function_call_arguments.done",
                    item_id=item["id"],
                    output_index=index,
                    name=item["name"],
                    arguments=item["text"],
                )
            out += self._event("response.output_item.done", output_index=index, item=done)
        final = self._snapshot("completed")
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        return out + self._event(kind, response=final)

    def error_event(self, message: str) -> bytes:
        error = {"type": "stream_interrupted", "code": "stream_interrupted", "message": message}
        return self._event("error", code="stream_interrupted", message=message, param=None, error=error)
