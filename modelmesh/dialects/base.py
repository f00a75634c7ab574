"""What a client dialect is, the typed refusal for what it cannot express, and the SSE helpers dialects share.

A dialect is created per request (it remembers the caller's body to echo its settings in the answer).
It owns nothing of routing: the engine only calls it at the answer points. The OpenAI Chat Completions
path has no dialect object at all (no extra work on the hot path). Which dialect a path speaks is
``lookup``'s: this module imports no dialect.
"""

from __future__ import annotations

import json
from typing import Any, Protocol

import httpx2


class DialectError(Exception):
    """A request the dialect cannot carry to the mesh (answered 400 in the dialect's own error shape)."""

    def __init__(self, message: str, param: str | None = None, code: str = "unsupported_feature") -> None:
        super().__init__(message)
        self.message, self.param, self.code = message, param, code
        self.dialect: ClientDialect | None = None  # set by the edge that caught it, to answer in its shape

    def openai_body(self) -> bytes:
        error = {
            "message": self.message,
            "type": "invalid_request_error",
            "code": self.code,
            "param": self.param,
        }
        return json.dumps({"error": error}).encode()


class DialectStream(Protocol):
    """Turns the chat SSE bytes the flow emits (complete events) into the dialect's event sequence."""

    def feed(self, chat_sse: bytes) -> bytes: ...

    def error_event(self, message: str) -> bytes:
        """The dialect-native event that ends a stream broken after content."""
        ...


class ClientDialect(Protocol):
    name: str
    #: True when the caller's SDK is the ``openai`` one: ``StreamInterruptedError`` is its own class.
    raises_on_interrupt: bool

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        """The caller's body in chat form; raises ``DialectError`` naming what cannot be expressed."""
        ...

    def answer(self, chat_body: bytes) -> bytes:
        """A whole ``chat.completion`` body -> the dialect's answer object."""
        ...

    def stream(self) -> DialectStream: ...

    def error(self, status: int, openai_error_body: bytes) -> tuple[int, bytes]:
        """An OpenAI-shaped error -> the dialect's status and JSON error body."""
        ...


def in_dialect(dialect: ClientDialect | None, response: httpx2.Response) -> httpx2.Response:
    """A local OpenAI-shaped error response re-shaped for ``dialect`` (headers such as Retry-After kept)."""
    if dialect is None:
        return response
    status, body = dialect.error(response.status_code, response.content)
    headers = {k: v for k, v in response.headers.items() if k not in ("content-length", "content-type")}
    headers["content-type"] = "application/json"
    return httpx2.Response(status, headers=headers, content=body)


def openai_error_message(body: bytes) -> tuple[str, str | None]:
    """(message, type) of an OpenAI-shaped error body; the raw text when it is not one."""
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        return body[:500].decode("utf-8", "replace") or "error", None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        kind = error.get("type")
        return str(error.get("message") or "error"), kind if isinstance(kind, str) else None
    if isinstance(error, str):
        return error, None
    return "error", None


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: ".encode() + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


def chat_events(chunk: bytes) -> list[dict[str, Any] | None]:
    """The payloads of complete chat SSE events; None stands for ``[DONE]``."""
    out: list[dict[str, Any] | None] = []
    for raw in chunk.split(b"\n\n"):
        for line in raw.split(b"\n"):
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                out.append(None)
                continue
            try:
                payload = json.loads(data)
            except ValueError:
                continue
            if isinstance(payload, dict):
                out.append(payload)
    return out
