"""The proxy's own answers: OpenAI-shaped error bodies and small JSON replies, sent as raw ASGI messages.

Owns the error shape every SDK parses (``{"error": {"message", "type", "code", "param"}}``) and the
``x-should-retry: false`` it carries. It deliberately does not decide when to refuse: callers raise
:class:`RequestRefused` or call :func:`send_json`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class RequestRefused(Exception):
    """A request the proxy answers itself with ``status`` and an OpenAI-shaped error."""

    def __init__(
        self,
        status: int,
        message: str,
        code: str,
        headers: dict[str, str] | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.kind = status, message, code, kind
        self.headers = headers or {}


async def send_json(send: Send, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
    body = json.dumps(data).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def send_error(send: Send, refused: RequestRefused, *, anthropic: bool = False) -> None:
    """The refusal in the OpenAI error shape, or Anthropic's for the Messages endpoints."""
    error = {"message": refused.message, "type": refused.kind, "code": refused.code, "param": None}
    body: dict[str, Any] = {"error": error}
    if anthropic:
        from modelmesh.dialects.messages import error_body

        body = json.loads(error_body(refused.status, refused.message))
    # The mesh already retried and failed over: a client SDK retrying on top would multiply the wait.
    await send_json(send, refused.status, body, {"x-should-retry": "false", **refused.headers})
