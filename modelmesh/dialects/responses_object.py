"""The OpenAI Responses API's ``Response`` object and its output items, for the whole answer and the stream.

Owns the object's shape (id, status, ``output``, ``output_text``, usage in the Responses API's terms,
``incomplete_details``, the caller's settings echoed back) and the ``message`` / ``function_call`` output
items. Shared by ``responses`` (a whole ``chat.completion``) and ``responses_stream`` (the snapshots in
``response.*`` events); it translates no request and emits no events.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def message_item(
    item_id: str, text: str, refusal: str | None = None, status: str = "completed"
) -> dict[str, Any]:
    part: dict[str, Any] = (
        {"type": "refusal", "refusal": refusal}
        if refusal and not text
        else {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    )
    return {"type": "message", "id": item_id, "status": status, "role": "assistant", "content": [part]}


def call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item_id,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def response_object(
    body: dict[str, Any], chat_id: Any, model: Any, output: list[dict[str, Any]], usage: Any, finish: Any
) -> dict[str, Any]:
    """The ``Response`` object for the caller's request ``body``, echoing its settings as the API does."""
    incomplete = finish in ("length", "content_filter")
    text = body.get("text") if isinstance(body.get("text"), dict) else {"format": {"type": "text"}}
    return {
        "id": f"resp_{str(chat_id or uuid.uuid4().hex).removeprefix('chatcmpl-')}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete" if incomplete else "completed",
        "model": model,
        "output": output,
        "output_text": "".join(
            part.get("text", "") for item in output if item["type"] == "message" for part in item["content"]
        ),
        "usage": _usage(usage),
        "error": None,
        "incomplete_details": {"reason": _INCOMPLETE[finish]} if incomplete else None,
        "instructions": body.get("instructions"),
        "metadata": body.get("metadata") or {},
        "max_output_tokens": body.get("max_output_tokens"),
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "temperature": body.get("temperature"),
        "top_p": body.get("top_p"),
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "text": text,
        "store": False,
        "user": body.get("user"),
    }


def _usage(usage: Any) -> dict[str, Any]:
    usage = usage if isinstance(usage, dict) else {}
    prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    reasoning = (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": usage.get("total_tokens") or prompt + completion,
    }
