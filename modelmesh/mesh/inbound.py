"""What an SDK request says, parsed once before it is routed: the endpoint, the body (or the chat form of
a client dialect's body), the headers, the model named; and the local error answers ``MeshEntry`` gives
when there is nothing to route. Deliberately no routing and no I/O."""

from __future__ import annotations

import json
from typing import Any

import httpx2

from modelmesh.connectors.base import InboundRequest
from modelmesh.connectors.openai_chat import endpoint_of
from modelmesh.dialects.base import DialectError
from modelmesh.dialects.lookup import dialect_for
from modelmesh.headers import header_dict
from modelmesh.payloads import parse_json
from modelmesh.types import Endpoint


def inbound_request(request: httpx2.Request) -> InboundRequest | None:
    """Parse what the SDK sent; None when the path is not a routed endpoint."""
    endpoint = endpoint_of(request.url.path)
    if endpoint is None:
        return _dialect_request(request)
    raw = request.content
    headers = header_dict(request.headers)
    content_type = headers.get("content-type", "application/json")
    body: dict[str, Any] | None = None
    if content_type.startswith("application/json"):
        try:
            parsed = parse_json(raw) if raw else {}
        except ValueError:
            parsed = None
        body = parsed if isinstance(parsed, dict) else {}
    return InboundRequest(endpoint, request.method, headers, body, raw, content_type)


def _dialect_request(request: httpx2.Request) -> InboundRequest | None:
    """A client-dialect request (Responses, Messages) in chat form; raises ``DialectError`` (carrying the
    dialect) for what the chat form cannot carry. None when the path is no dialect's either."""
    dialect = dialect_for(request.url.path)
    if dialect is None or request.method != "POST":
        return None
    try:
        try:
            parsed = parse_json(request.content) if request.content else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise DialectError("The request body must be a JSON object.", None, "invalid_json")
        chat = dialect.to_chat(parsed)
    except DialectError as exc:
        exc.dialect = dialect
        raise
    raw = json.dumps(chat, separators=(",", ":"), ensure_ascii=False).encode()
    headers = header_dict(request.headers)
    return InboundRequest(Endpoint.CHAT, "POST", headers, chat, raw, "application/json", dialect)


def requested_model(inbound: InboundRequest) -> str | None:
    if inbound.body is not None:
        model = inbound.body.get("model")
        return model if isinstance(model, str) else None
    return multipart_field(inbound.raw, inbound.content_type, "model")


def multipart_field(body: bytes, content_type: str, name: str) -> str | None:
    boundary = content_type.partition("boundary=")[2].strip('"').encode()
    marker = f'name="{name}"'.encode()
    for part in body.split(b"--" + boundary) if boundary else ():
        head, sep, rest = part.partition(b"\r\n\r\n")
        if sep and marker in head and b"filename=" not in head:
            return rest.rstrip(b"\r\n").decode("utf-8", "replace")
    return None


def local_error(status: int, message: str, code: str, param: str | None = None) -> httpx2.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code, "param": param}}
    return httpx2.Response(status, json=body)
