"""The OpenAI wire format, as plain dicts and bytes: chat completions (whole and streamed), errors,
model lists, embeddings, images, audio, and rate-limit headers.

Pure functions, no I/O: ``modelmesh.testing.openai_app`` decides what to answer and calls these to
spell it. Shapes follow what api.openai.com sends today, so the real ``openai`` SDK parses every
response into its own types (``ChatCompletion``, ``ChatCompletionChunk``, ``CreateEmbeddingResponse``...).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import zlib
from typing import Any

from modelmesh.testing.faults import Fault
from modelmesh.testing.responder import Reply

ARGUMENT_PIECE_CHARS = 8
_DEFAULT_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "unsupported_country_region_territory", "Permission denied."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist."),
    408: ("server_error", "timeout", "Request timed out."),
    409: ("invalid_request_error", None, "Conflict."),
    422: ("invalid_request_error", None, "Unprocessable request."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests. Please try again later."),
    500: ("server_error", None, "The server had an error while processing your request. Sorry about that!"),
    502: ("server_error", None, "Bad gateway."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", "timeout", "Gateway timeout."),
}


def error_body(
    message: str, error_type: str, code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def fault_error(fault: Fault) -> tuple[int, dict[str, Any]]:
    """(status, body) of an error fault in OpenAI's shape."""
    if fault.kind == "context_length":
        message = (
            "This model's maximum context length is 4096 tokens. However, your messages resulted in "
            "5000 tokens. Please reduce the length of the messages."
        )
        return 400, error_body(message, "invalid_request_error", "context_length_exceeded", "messages")
    if fault.kind == "content_policy":
        message = (
            "Your request was rejected as a result of our safety system. Your prompt may contain text "
            "that is not allowed by our safety system."
        )
        return 400, error_body(message, "invalid_request_error", "content_policy_violation", None)
    status = fault.status_code or 500
    default_type, default_code, default_message = _DEFAULT_ERRORS.get(
        status, ("server_error" if status >= 500 else "invalid_request_error", None, f"Error {status}.")
    )
    return status, error_body(
        fault.message or default_message,
        fault.error_type or default_type,
        fault.error_code if fault.error_code is not None else default_code,
    )


def rate_limit_headers(fault: Fault) -> dict[str, str]:
    headers = {
        "x-ratelimit-limit-requests": str(fault.limit_requests),
        "x-ratelimit-remaining-requests": str(fault.remaining_requests),
        "x-ratelimit-reset-requests": "1s",
    }
    if fault.limit_tokens is not None:
        headers["x-ratelimit-limit-tokens"] = str(fault.limit_tokens)
        headers["x-ratelimit-reset-tokens"] = "1s"
    if fault.remaining_tokens is not None:
        headers["x-ratelimit-remaining-tokens"] = str(fault.remaining_tokens)
    return headers


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _tool_calls(reply: Reply, completion_id: str) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id or f"call_{completion_id.removeprefix('chatcmpl-')}_{i}",
            "type": "function",
            "function": {"name": call.name, "arguments": call.arguments_json},
        }
        for i, call in enumerate(reply.calls)
    ]


def chat_completion(
    reply: Reply, *, completion_id: str, created: int, model: str, prompt_tokens: int, n: int = 1
) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None, "annotations": []}
    if reply.tool_calls:
        message["tool_calls"] = _tool_calls(reply, completion_id)
    choice = {"message": message, "logprobs": None, "finish_reason": reply.effective_finish_reason}
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": i, **choice} for i in range(max(1, n))],
        "usage": usage(prompt_tokens, reply.completion_words),
        "service_tier": "default",
        "system_fingerprint": None,
    }


def split_words(text: str) -> list[str]:
    """Word pieces whose concatenation is ``text`` (leading whitespace kept with each word)."""
    return re.findall(r"\s*\S+|\s+", text)


def chat_chunks(
    reply: Reply, *, completion_id: str, created: int, model: str, prompt_tokens: int, include_usage: bool
) -> list[dict[str, Any]]:
    """The chunk objects of a streamed completion, in order (without the ``[DONE]`` terminator)."""

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": None,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
        }
        if include_usage:
            body["usage"] = None
        return body

    chunks = [
        chunk({"role": "assistant", "content": "" if reply.text is not None else None, "refusal": None})
    ]
    chunks += [chunk({"content": piece}) for piece in split_words(reply.text or "")]
    for index, call in enumerate(_tool_calls(reply, completion_id)):
        head = {**call, "function": {"name": call["function"]["name"], "arguments": ""}}
        chunks.append(chunk({"tool_calls": [{"index": index, **head}]}))
        arguments = call["function"]["arguments"]
        for start in range(0, len(arguments), ARGUMENT_PIECE_CHARS):
            piece = arguments[start : start + ARGUMENT_PIECE_CHARS]
            chunks.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": piece}}]}))
    chunks.append(chunk({}, reply.effective_finish_reason))
    if include_usage:
        final = chunk({})
        final["choices"] = []
        final["usage"] = usage(prompt_tokens, reply.completion_words)
        chunks.append(final)
    return chunks


def sse(data: dict[str, Any] | str) -> bytes:
    """One ``data:`` server-sent event."""
    payload = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return f"data: {payload}\n\n".encode()


DONE = sse("[DONE]")


def models_list(models: list[str], owner: str, created: int) -> dict[str, Any]:
    return {"object": "list", "data": [model_object(m, owner, created) for m in models]}


def model_object(model: str, owner: str, created: int) -> dict[str, Any]:
    return {"id": model, "object": "model", "created": created, "owned_by": owner}


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit-length vector seeded by the SHA-256 of ``text``."""
    raw: list[float] = []
    counter = 0
    while len(raw) < dimensions:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        raw += [(b / 127.5) - 1.0 for b in digest]
        counter += 1
    vector = raw[:dimensions]
    norm = sum(v * v for v in vector) ** 0.5 or 1.0
    # Round-trip through float32 so float and base64 answers are the same numbers.
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in vector))))


def embeddings(texts: list[str], *, model: str, dimensions: int, encoding_format: str) -> dict[str, Any]:
    data = []
    for index, text in enumerate(texts):
        vector = embedding_vector(text, dimensions)
        value: list[float] | str = vector
        if encoding_format == "base64":
            value = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": value})
    tokens = max(1, sum(len(t.split()) for t in texts))
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def speech_bytes(text: str, size: int = 4096) -> bytes:
    """Deterministic bytes standing in for encoded audio (an ID3 header, then hash-derived noise)."""
    out = bytearray(b"ID3\x04\x00\x00\x00\x00\x00\x00")
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def png_bytes(seed: str) -> bytes:
    """A valid 1x1 PNG whose colour depends on ``seed``."""
    r, g, b = hashlib.sha256(seed.encode()).digest()[:3]

    def block(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(bytes([0, r, g, b]))
    return b"\x89PNG\r\n\x1a\n" + block(b"IHDR", header) + block(b"IDAT", pixels) + block(b"IEND", b"")
