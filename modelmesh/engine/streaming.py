"""Server-sent-event bookkeeping shared by both transports: what a stream has delivered so far.

``StreamMonitor`` takes raw bytes from a provider and returns the OpenAI-format bytes to hand the SDK:
complete events only, malformed events dropped, foreign dialects translated. It tracks whether any
content has been delivered (the failover boundary), whether the answer finished, and the usage.
``progress`` counts the events that carried content or a finish: keep-alive comments and empty deltas
do not move it, which is how the engine tells a live stream from one that only sends bytes.
"""

from __future__ import annotations

import json
from typing import Any

from modelmesh.connectors.base import ConnectorError, Failure, FailureKind, StreamTranslator
from modelmesh.payloads import parse_json

DONE = b"data: [DONE]\n\n"


class StreamMonitor:
    def __init__(
        self, translator: StreamTranslator | None, wants_usage: bool = False, keep_payloads: bool = False
    ) -> None:
        self._translator = translator
        # The parsed chunks of what ``feed`` returned, for a relay that rewrites them (``take_payloads``).
        self._payloads: list[dict[str, Any] | None] | None = [] if keep_payloads else None
        self._buffer = b""
        self.wants_usage = wants_usage
        self.has_content = False
        self.progress = 0  # events with content, tool calls or a finish
        self.has_tool_calls = False  # tool-call deltas cannot be resumed by an assistant prefill
        self.finished = False  # a finish_reason (or the dialect's end) was seen
        self.done = False  # [DONE] was seen or emitted
        self.usage: dict[str, Any] | None = None
        self.malformed = 0
        self.error: Failure | None = None
        self.text: list[str] = []

    @property
    def complete(self) -> bool:
        """Nothing more worth waiting for: finished, and the usage chunk arrived if one was asked for."""
        return self.done or (self.finished and (not self.wants_usage or self.usage is not None))

    def feed(self, chunk: bytes) -> bytes:
        if (
            not self._buffer
            and chunk.endswith(b"\n\n")
            and chunk.find(b"\n\n") == len(chunk) - 2
            and b"\r" not in chunk
        ):
            return self._event(chunk[:-2], chunk)  # the usual chunk: exactly one whole event
        buffer = self._buffer + chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        *events, self._buffer = buffer.split(b"\n\n")
        return b"".join([self._event(raw) for raw in events if raw])

    def _event(self, raw: bytes, whole: bytes | None = None) -> bytes:
        """One event (``raw``, without its blank line) as the SDK should get it; ``whole`` is the same
        event with its blank line, when the caller already holds those bytes."""
        if self._translator is None and raw.startswith(b"data: ") and b"\n" not in raw:
            return self._passthrough(raw[6:], whole or raw + b"\n\n")  # one line: no decoding needed
        name: str | None = None
        data_lines: list[str] = []
        for line in raw.decode("utf-8", "replace").split("\n"):
            if line.startswith("data:"):
                data_lines.append(line[5:].lstrip(" "))
            elif line.startswith("event:"):
                name = line[6:].strip()
        if not data_lines:
            return b""  # comments and keep-alives carry nothing for the SDK
        data = "\n".join(data_lines)
        if self._translator is not None:
            return self._translated(name, data)
        return self._passthrough(data.encode(), raw + b"\n\n")

    def take_payloads(self) -> list[dict[str, Any] | None]:
        """The chunks behind everything ``feed`` returned since the last call (None for ``[DONE]``)."""
        assert self._payloads is not None, "made with keep_payloads=True"
        payloads, self._payloads = self._payloads, []
        return payloads

    def _passthrough(self, data: bytes, event: bytes) -> bytes:
        """An OpenAI-format event: forwarded as it came (``event``), unless malformed or an error."""
        if data == b"[DONE]":
            self.done = True
            if self._payloads is not None:
                self._payloads.append(None)
            return DONE
        try:
            payload = parse_json(data)
        except ValueError:
            self.malformed += 1
            return b""
        if not isinstance(payload, dict):
            self.malformed += 1
            return b""
        self._observe(payload)
        if self.error is not None:
            return b""
        if self._payloads is not None:
            self._payloads.append(payload)
        return event

    def _translated(self, name: str | None, data: str) -> bytes:
        assert self._translator is not None
        try:
            chunks = self._translator.feed(name, data)
        except ConnectorError as exc:
            self.error = exc.failure
            return b""
        except ValueError:
            self.malformed += 1
            return b""
        out = []
        for payload in chunks:
            self._observe(payload)
            out.append(b"data: " + json.dumps(payload).encode() + b"\n\n")
            if self._payloads is not None:
                self._payloads.append(payload)
        if self._translator.finished and not self.done:
            self.finished = True
            self.progress += 1
        return b"".join(out)

    def _observe(self, payload: dict[str, Any]) -> None:
        if "error" in payload and "choices" not in payload:
            error = (
                payload["error"] if isinstance(payload["error"], dict) else {"message": str(payload["error"])}
            )
            self.error = Failure(FailureKind.STREAM_BROKEN, str(error.get("message", "stream error")))
            return
        usage = payload.get("usage")
        if usage:
            self.usage = usage
        for choice in payload.get("choices") or ():
            delta = choice.get("delta")
            if delta:
                content = delta.get("content")
                if content:
                    self.has_content = True
                    self.progress += 1
                    self.text.append(content)
                if delta.get("tool_calls") or delta.get("refusal") or delta.get("function_call"):
                    self.has_content = self.has_tool_calls = True
                    self.progress += 1
            if choice.get("finish_reason"):
                self.finished = True
                self.progress += 1

    def partial_text(self) -> str:
        return "".join(self.text)
