"""The OpenAI Chat Completions dialect, spoken by OpenAI and every OpenAI-compatible provider.

Requests change only in their ``model`` field; successful bodies and streams pass through untouched, so
an OpenAI-compatible provider costs the mesh no translation at all. Owns error classification for the
dialect; knows nothing about pools, retries or I/O.
"""

from __future__ import annotations

import email.utils
import functools
import json
import time
from collections.abc import Mapping
from typing import Any

from modelmesh.connectors.base import Failure, FailureKind, InboundRequest, OutboundRequest, StreamTranslator
from modelmesh.types import Endpoint, ModelSpec, ProviderEndpoint

_STATUS_KINDS: dict[int, FailureKind] = {
    401: FailureKind.AUTH,
    403: FailureKind.AUTH,
    404: FailureKind.NOT_FOUND,
    408: FailureKind.SERVER,
    429: FailureKind.RATE_LIMITED,
}
_CONTEXT_CODES = frozenset({"context_length_exceeded", "string_above_max_length"})
_POLICY_CODES = frozenset({"content_policy_violation", "content_filter", "moderation_blocked"})


class OpenAIChatConnector:
    """``openai.llm.v1`` and every OpenAI-compatible preset."""

    passthrough = True

    def build_request(
        self, request: InboundRequest, model: ModelSpec, provider: ProviderEndpoint
    ) -> OutboundRequest:
        headers = {"content-type": request.content_type, "accept": request.headers.get("accept", "*/*")}
        if provider.api_key is not None:
            headers["authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
        headers.update(provider.headers)
        if request.body is not None:
            content = (
                _swap_model(request, model.id) or json.dumps({**request.body, "model": model.id}).encode()
            )
        else:
            content = replace_multipart_field(request.raw, request.content_type, "model", model.id)
        url = f"{provider.base_url.rstrip('/')}/{request.endpoint.value}"
        return OutboundRequest("POST", url, headers, content)

    def translate_response(self, request: InboundRequest, model: ModelSpec, body: bytes) -> bytes:
        return body

    def stream_translator(self, request: InboundRequest, model: ModelSpec) -> StreamTranslator | None:
        return None

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Failure:
        error = _error_object(body)
        code = str(error.get("code") or error.get("type") or "")
        message = str(error.get("message") or f"HTTP {status}")
        if code in _CONTEXT_CODES or "context length" in message.lower():
            kind = FailureKind.CONTEXT_LENGTH
        elif code in _POLICY_CODES:
            kind = FailureKind.CONTENT_POLICY
        elif status in _STATUS_KINDS:
            kind = _STATUS_KINDS[status]
        elif status >= 500:
            kind = FailureKind.SERVER
        else:
            kind = FailureKind.BAD_REQUEST
        return Failure(
            kind=kind,
            message=message,
            status=status,
            retry_after_s=parse_retry_after(headers),
            headers=headers,
            body=json.dumps({"error": {**error, "message": message}}).encode(),
        )


def _swap_model(request: InboundRequest, model_id: str) -> bytes | None:
    """The SDK's body with only its top-level model replaced, or None when that is not certain.

    The SDK writes compact JSON; a ``"model":"<virtual>"`` pair found exactly once is the top-level
    one (inside strings the quotes would be escaped). Re-serialising a long conversation costs far more.
    """
    virtual = request.body.get("model") if request.body else None
    if not isinstance(virtual, str) or not request.raw:
        return None
    needle = _model_pair(virtual)
    if request.raw.count(needle) != 1:
        return None
    return request.raw.replace(needle, _model_pair(model_id))


@functools.lru_cache(maxsize=1024)
def _model_pair(name: str) -> bytes:
    """``"model":"<name>"`` as the SDK writes it (pool and model names repeat on every request)."""
    return b'"model":' + json.dumps(name, ensure_ascii=False).encode()


def _error_object(body: bytes) -> dict[str, Any]:
    """The ``error`` object of an OpenAI-style error body (Gemini wraps it in a list); {} if none."""
    try:
        data: Any = json.loads(body) if body else {}
    except ValueError:
        return {"message": body[:500].decode("utf-8", "replace")} if body else {}
    if isinstance(data, list) and data:
        data = data[0]
    if isinstance(data, dict):
        error = data.get("error", data)
        if isinstance(error, dict):
            return error
        if isinstance(error, str):
            return {"message": error}
    return {}


def parse_retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from ``retry-after-ms`` / ``retry-after`` (seconds or an HTTP date), if present."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def replace_multipart_field(body: bytes, content_type: str, name: str, value: str) -> bytes:
    """Rewrite one plain form field of a multipart body (the virtual model name in uploads)."""
    boundary = content_type.partition("boundary=")[2].strip('"').encode()
    if not boundary:
        return body
    delimiter = b"--" + boundary
    parts = body.split(delimiter)
    marker = f'name="{name}"'.encode()
    for index, part in enumerate(parts):
        head, sep, _rest = part.partition(b"\r\n\r\n")
        if sep and marker in head and b"filename=" not in head:
            parts[index] = head + sep + value.encode() + b"\r\n"
            break
    return delimiter.join(parts)


_ENDPOINTS = {endpoint.value: endpoint for endpoint in Endpoint}


def endpoint_of(path: str) -> Endpoint | None:
    """The endpoint a request path addresses (``/v1/chat/completions`` -> CHAT): its last one or two
    segments, looked up (every request asks)."""
    head, _, last = path.rpartition("/")
    found = _ENDPOINTS.get(head[head.rfind("/") + 1 :] + "/" + last)
    return found if found is not None else _ENDPOINTS.get(last)
