"""Resuming a stream that broke after content reached the caller (``streaming.on_interrupt: continue``).

Two pure pieces. ``continuation_request`` is the original request plus one trailing assistant message
holding the text delivered so far: an assistant prefill, nothing else (never a hidden "please
continue" prompt), so it may only go to a model whose features include ``assistant_prefill``.
``Stitcher`` rewrites the continuation's OpenAI-format SSE events so that the caller sees one stream:
the first segment's chunk id, no second role delta, whitespace not doubled at the seam, and a single
usage chunk at the end that sums what every segment reported.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from modelmesh.connectors.base import InboundRequest

PREFILL = "assistant_prefill"


def continuation_request(original: InboundRequest, delivered: str) -> InboundRequest:
    """``original`` with the delivered text appended as an assistant prefill."""
    body = dict(original.body or {})
    body["messages"] = [*list(body.get("messages") or []), {"role": "assistant", "content": delivered}]
    return replace(original, body=body, raw=json.dumps(body).encode())


def can_continue(body: dict[str, Any] | None, delivered: str, has_tool_calls: bool) -> bool:
    """Only plain single-choice text can be resumed by prefill (tool-call arguments cannot)."""
    if not delivered or has_tool_calls or body is None:
        return False
    return int(body.get("n") or 1) == 1


@dataclass(slots=True)
class Stitcher:
    """Keeps one chunk id across segments and merges usage; feed it the chunks a monitor parsed."""

    wants_usage: bool
    chunk_id: str | None = None
    delivered: list[str] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=dict)
    _last_meta: dict[str, Any] = field(default_factory=dict)  # created / model of the latest chunk
    _segment: int = 0
    _seam: bool = False  # the next content is the first of a continuation

    def next_segment(self) -> None:
        self._segment += 1
        self._seam = True

    @property
    def text(self) -> str:
        return "".join(self.delivered)

    def chunks(self, payloads: Sequence[dict[str, Any] | None]) -> bytes:
        """The stitched events for a run of chunks as ``StreamMonitor`` parsed them (None: ``[DONE]``,
        which the relay sends itself at the end): each event is parsed once, by the monitor."""
        out: list[bytes] = []
        for payload in payloads:
            event = self._chunk(payload) if payload is not None else b""
            if event:
                out.append(event + b"\n\n")
        return b"".join(out)

    def final_usage_event(self) -> bytes:
        """The merged usage chunk, when the caller asked for usage and any segment reported some."""
        if not (self.wants_usage and self.usage):
            return b""
        chunk = {
            "id": self.chunk_id or "chatcmpl-modelmesh",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "",
            "choices": [],
            "usage": dict(self.usage),
        }
        chunk.update(self._last_meta)
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"

    def _chunk(self, chunk: dict[str, Any]) -> bytes:
        if self.chunk_id is None:
            self.chunk_id = chunk.get("id")
        elif "id" in chunk:
            chunk["id"] = self.chunk_id
        self._last_meta = {k: chunk[k] for k in ("created", "model") if k in chunk}
        usage = chunk.pop("usage", None)
        if isinstance(usage, dict):
            self._merge(usage)
        choices = [self._choice(c) for c in chunk.get("choices") or () if isinstance(c, dict)]
        chunk["choices"] = [c for c in choices if c is not None]
        if not chunk["choices"]:
            return b""  # usage-only chunks are merged and sent once, at the end
        return b"data: " + json.dumps(chunk).encode()

    def _choice(self, choice: dict[str, Any]) -> dict[str, Any] | None:
        delta = dict(choice.get("delta") or {})
        if self._segment:
            delta.pop("role", None)
        content = delta.get("content")
        if isinstance(content, str) and content:
            if self._seam and self.delivered and self.delivered[-1][-1:].isspace():
                content = content.lstrip()  # a prefill is sent without trailing whitespace
            if content:
                self._seam = False
                self.delivered.append(content)
            delta["content"] = content
        choice = {**choice, "delta": delta}
        if self._segment and not choice.get("finish_reason") and not any(v for v in delta.values()):
            return None
        return choice

    def _merge(self, usage: dict[str, Any]) -> None:
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            value = usage.get(name)
            if isinstance(value, int):
                self.usage[name] = self.usage.get(name, 0) + value
