"""The Anthropic Messages API (``POST /v1/messages``) <-> the chat form the mesh routes.

Owns the request translation (``system``, text / image / ``tool_use`` / ``tool_result`` blocks, tools,
``tool_choice``, stop sequences, sampling, ``max_tokens``), the ``Message`` built from a whole
``chat.completion``, the dialect's error shape and status-named types, and the local ``count_tokens``
estimate; the streamed events are ``messages_stream``'s. Everything goes through the chat form, also to
Anthropic providers: ``cache_control`` marks and thinking blocks in the history are dropped, and
``thinking``, ``top_k``, documents, server tools and citations are refused with a 400 naming them (ADR 0003).
"""

from __future__ import annotations

import json
from typing import Any

from modelmesh.dialects.base import DialectError, DialectStream, openai_error_message
from modelmesh.dialects.messages_stream import STOP_REASONS, MessagesStream, message_object, new_id

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_IGNORED = frozenset({"service_tier", "container", "mcp_servers", "context_management"})
_HANDLED = frozenset(
    {"model", "messages", "system", "max_tokens", "tools", "tool_choice", "stop_sequences", "stream"}
    | {"temperature", "top_p", "metadata", "thinking"}
)


class MessagesDialect:
    name = "messages"
    raises_on_interrupt = False

    def __init__(self) -> None:
        self.request: dict[str, Any] = {}

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        self.request = body
        _refuse_unsupported(body)
        messages = _system(body.get("system"))
        for message in body.get("messages") or ():
            messages.extend(_message(message))
        chat: dict[str, Any] = {
            "model": body.get("model"),
            "messages": messages,
            "max_tokens": body["max_tokens"],
        }
        for key in ("temperature", "top_p"):
            if body.get(key) is not None:
                chat[key] = body[key]
        if body.get("stop_sequences"):
            chat["stop"] = body["stop_sequences"]
        user = (body.get("metadata") or {}).get("user_id")
        if user:
            chat["user"] = user
        if body.get("tools"):
            chat["tools"] = [_tool(tool) for tool in body["tools"]]
        if body.get("tool_choice"):
            chat.update(_tool_choice(body["tool_choice"]))
        if body.get("stream"):
            chat["stream"] = True
            chat["stream_options"] = {"include_usage": True}
        return chat

    def answer(self, chat_body: bytes) -> bytes:
        chat = json.loads(chat_body)
        choice = (chat.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        content: list[dict[str, Any]] = []
        if message.get("content"):
            content.append({"type": "text", "text": message["content"]})
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            content.append(
                {
                    "type": "tool_use",
                    "id": call.get("id") or new_id("toolu"),
                    "name": function.get("name"),
                    "input": _arguments(function.get("arguments")),
                }
            )
        usage = chat.get("usage") or {}
        reply = message_object(chat.get("id"), chat.get("model"), content)
        reply["stop_reason"] = STOP_REASONS.get(choice.get("finish_reason") or "stop", "end_turn")
        reply["usage"] = {
            "input_tokens": usage.get("prompt_tokens") or 0,
            "output_tokens": usage.get("completion_tokens") or 0,
        }
        return json.dumps(reply).encode()

    def stream(self) -> DialectStream:
        return MessagesStream()

    def error(self, status: int, openai_error_body: bytes) -> tuple[int, bytes]:
        message, _ = openai_error_message(openai_error_body)
        return status, error_body(status, message)


def error_body(status: int, message: str) -> bytes:
    kind = _ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return json.dumps({"type": "error", "error": {"type": kind, "message": message}}).encode()


def count_tokens(body: dict[str, Any]) -> dict[str, int]:
    """An estimate (about four characters a token over the prompt's JSON), not a tokenizer's count:
    the mesh does not know which model will answer, and tokenizers differ between providers."""
    prompt = {key: body.get(key) for key in ("system", "messages", "tools")}
    text = json.dumps(prompt, ensure_ascii=False, separators=(",", ":"))
    return {"input_tokens": max(1, (len(text) + 3) // 4)}


def _refuse_unsupported(body: dict[str, Any]) -> None:
    if not isinstance(body.get("max_tokens"), int):
        raise DialectError("max_tokens: Field required (an integer).", "max_tokens", "invalid_request")
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") not in (None, "disabled"):
        raise DialectError(
            "`thinking` is not supported through ModelMesh: requests are routed in the chat form, which "
            "cannot carry thinking blocks.",
            "thinking",
        )
    if body.get("top_k") is not None:
        raise DialectError(
            "`top_k` is not supported through ModelMesh (the chat form has no top_k).", "top_k"
        )
    unknown = sorted(k for k in body if k not in _HANDLED and k not in _IGNORED and k != "top_k")
    unknown = [k for k in unknown if body[k] is not None]
    if unknown:
        raise DialectError(
            f"`{unknown[0]}` is not supported through ModelMesh's Messages endpoint.", unknown[0]
        )


def _system(system: Any) -> list[dict[str, Any]]:
    if not system:
        return []
    if isinstance(system, str):
        return [{"role": "system", "content": system}]
    text = "\n\n".join(block.get("text", "") for block in system if block.get("type") == "text")
    return [{"role": "system", "content": text}]


def _message(message: dict[str, Any]) -> list[dict[str, Any]]:
    """One Anthropic message -> chat messages (tool results become ``tool`` messages of their own)."""
    role, content = message.get("role"), message.get("content")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    parts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for block in content or ():
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "text": block.get("text", "")})
        elif kind == "image":
            parts.append({"type": "image_url", "image_url": {"url": _image_url(block.get("source") or {})}})
        elif kind == "tool_use":
            arguments = json.dumps(block.get("input") or {})
            calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": arguments},
                }
            )
        elif kind == "tool_result":
            results.append(
                {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": _result_text(block)}
            )
        elif kind in ("thinking", "redacted_thinking"):
            continue  # the chat form cannot carry them back (documented)
        else:
            raise DialectError(
                f"content blocks of type {kind!r} are not supported through ModelMesh.", "messages"
            )
    out: list[dict[str, Any]] = list(results)
    if role == "assistant":
        text = "".join(p["text"] for p in parts if p["type"] == "text")
        turn: dict[str, Any] = {"role": "assistant", "content": text or None}
        if calls:
            turn["tool_calls"] = calls
        out.append(turn)
    elif parts:
        out.append({"role": role, "content": parts})
    return out


def _image_url(source: dict[str, Any]) -> str:
    if source.get("type") == "base64":
        return f"data:{source.get('media_type')};base64,{source.get('data')}"
    if source.get("type") == "url":
        return str(source.get("url"))
    raise DialectError(f"image sources of type {source.get('type')!r} are not supported.", "messages")


def _result_text(block: dict[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if part.get("type") == "text")
    text = str(content or "")
    return f"Error: {text}" if block.get("is_error") else text


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") not in (None, "custom") or "input_schema" not in tool:
        raise DialectError(
            f"the server tool {tool.get('type') or tool.get('name')!r} is not supported through ModelMesh: "
            "only client tools (name, input_schema) route across providers.",
            "tools",
        )
    function = {"name": tool.get("name"), "parameters": tool["input_schema"]}
    if tool.get("description"):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def _tool_choice(choice: dict[str, Any]) -> dict[str, Any]:
    kind = choice.get("type")
    chosen: Any = {"auto": "auto", "any": "required", "none": "none"}.get(kind or "")
    if kind == "tool":
        chosen = {"type": "function", "function": {"name": choice.get("name")}}
    if chosen is None:
        raise DialectError(f"tool_choice {choice!r} is not supported.", "tool_choice")
    out: dict[str, Any] = {"tool_choice": chosen}
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False
    return out


def _arguments(arguments: Any) -> Any:
    try:
        value = json.loads(arguments) if arguments else {}
    except ValueError:
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"value": value}
