"""The Anthropic Messages wire format, as plain dicts and bytes: messages (whole and streamed), errors,
model lists and rate-limit headers.

Pure functions, no I/O: ``modelmesh.testing.anthropic_app`` decides what to answer and calls these to
spell it, following Anthropic's published Messages API (``message_start`` ... ``message_stop`` events,
``{"type": "error", "error": {...}}`` bodies, ``anthropic-ratelimit-*`` headers).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from modelmesh.testing.faults import Fault
from modelmesh.testing.openai_wire import ARGUMENT_PIECE_CHARS, split_words
from modelmesh.testing.responder import Reply

STOP_REASONS = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_MESSAGES = {
    401: "invalid x-api-key",
    403: "Your API key does not have permission to use the specified resource.",
    429: "Number of requests has exceeded your per-minute rate limit.",
    500: "Internal server error",
    529: "Overloaded",
}


def error_body(error_type: str, message: str, request_id: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}


def fault_error(fault: Fault, request_id: str) -> tuple[int, dict[str, Any]]:
    """(status, body) of an error fault in Anthropic's shape."""
    if fault.kind == "context_length":
        return 400, error_body(
            "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum", request_id
        )
    if fault.kind == "content_policy":
        return 400, error_body(
            "invalid_request_error", "Output blocked by content filtering policy", request_id
        )
    status = fault.status_code or 500
    default_type = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    message = fault.message or _MESSAGES.get(status, f"Error {status}")
    return status, error_body(fault.error_type or default_type, message, request_id)


def rate_limit_headers(fault: Fault) -> dict[str, str]:
    reset = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {
        "anthropic-ratelimit-requests-limit": str(fault.limit_requests),
        "anthropic-ratelimit-requests-remaining": str(fault.remaining_requests),
        "anthropic-ratelimit-requests-reset": reset,
    }
    if fault.limit_tokens is not None:
        headers["anthropic-ratelimit-tokens-limit"] = str(fault.limit_tokens)
        headers["anthropic-ratelimit-tokens-reset"] = reset
    if fault.remaining_tokens is not None:
        headers["anthropic-ratelimit-tokens-remaining"] = str(fault.remaining_tokens)
    return headers


def usage(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }


def content_blocks(reply: Reply, message_id: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    if reply.text:
        blocks.append({"type": "text", "text": reply.text})
    for i, call in enumerate(reply.calls):
        tool_id = call.id or f"toolu_{message_id.removeprefix('msg_')}_{i}"
        blocks.append({"type": "tool_use", "id": tool_id, "name": call.name, "input": call.arguments_dict})
    return blocks


def stop_reason(reply: Reply) -> str:
    reason = reply.effective_finish_reason
    return STOP_REASONS.get(reason, reason)


def message(reply: Reply, *, message_id: str, model: str, input_tokens: int) -> dict[str, Any]:
    return {
        "id": message_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content_blocks(reply, message_id),
        "stop_reason": stop_reason(reply),
        "stop_sequence": None,
        "usage": usage(input_tokens, reply.completion_words),
    }


def event(name: str, data: dict[str, Any]) -> bytes:
    """One named server-sent event."""
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


def stream_events(reply: Reply, *, message_id: str, model: str, input_tokens: int) -> list[bytes]:
    """The events of a streamed message, ``message_start`` to ``message_stop`` (the last one)."""
    start = message(reply, message_id=message_id, model=model, input_tokens=input_tokens)
    start.update(content=[], stop_reason=None, stop_sequence=None, usage=usage(input_tokens, 1))
    events = [event("message_start", {"type": "message_start", "message": start})]
    for index, block in enumerate(content_blocks(reply, message_id)):
        if block["type"] == "text":
            events.append(_block_start(index, {"type": "text", "text": ""}))
            if index == 0:
                events.append(event("ping", {"type": "ping"}))
            events += [_delta(index, {"type": "text_delta", "text": p}) for p in split_words(block["text"])]
        else:
            events.append(_block_start(index, {**block, "input": {}}))
            if index == 0:
                events.append(event("ping", {"type": "ping"}))
            arguments = json.dumps(block["input"], ensure_ascii=False)
            for s in range(0, len(arguments), ARGUMENT_PIECE_CHARS):
                piece = arguments[s : s + ARGUMENT_PIECE_CHARS]
                events.append(_delta(index, {"type": "input_json_delta", "partial_json": piece}))
        events.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
    delta = {"stop_reason": stop_reason(reply), "stop_sequence": None}
    events.append(
        event(
            "message_delta",
            {"type": "message_delta", "delta": delta, "usage": {"output_tokens": reply.completion_words}},
        )
    )
    events.append(event("message_stop", {"type": "message_stop"}))
    return events


def _block_start(index: int, block: dict[str, Any]) -> bytes:
    return event(
        "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}
    )


def _delta(index: int, delta: dict[str, Any]) -> bytes:
    return event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})


def models_list(models: list[str]) -> dict[str, Any]:
    data = [model_object(m) for m in models]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def model_object(model: str) -> dict[str, Any]:
    return {"type": "model", "id": model, "display_name": model, "created_at": "2025-01-01T00:00:00Z"}
