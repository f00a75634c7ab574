"""The OpenAI Responses API (``POST /v1/responses``) <-> the chat form the mesh routes.

Owns the request translation (``input`` as text or items: messages with text and image parts,
``function_call`` / ``function_call_output``; ``instructions``, function tools, ``tool_choice``,
``text.format``, sampling and limits) and the ``Response`` object built from a whole ``chat.completion``
(the object itself is ``responses_object``'s, the streamed events ``responses_stream``'s). Stateful features
(``previous_response_id``, ``store: true``, ``conversation``, ``background``) and built-in tools are
refused with a 400 naming them: the mesh keeps no conversation state and routes to chat providers.
Errors keep the OpenAI shape; a stream broken after content raises ``StreamInterruptedError`` (an
``openai.APIError``) in process, and the proxy's SSE error event over HTTP.
"""

from __future__ import annotations

import json
from typing import Any

from modelmesh.dialects.base import DialectError, DialectStream
from modelmesh.dialects.responses_object import call_item, message_item, new_id, response_object
from modelmesh.dialects.responses_stream import ResponsesStream

# Settings that change nothing about the answer the mesh can give: accepted and not forwarded.
_IGNORED = frozenset(
    {"include", "truncation", "service_tier", "prompt_cache_key", "safety_identifier", "stream_options"}
)
_COPIED = ("temperature", "top_p", "user", "parallel_tool_calls", "top_logprobs")
_STATEFUL = {
    "previous_response_id": "the mesh keeps no response state: send the whole conversation in `input`",
    "conversation": "the mesh keeps no conversations: send the whole conversation in `input`",
    "background": "background responses need state the mesh does not keep",
    "prompt": "stored prompt templates live at OpenAI: send `instructions` and `input` instead",
}
_HANDLED = frozenset(
    {"model", "input", "instructions", "tools", "tool_choice", "text", "max_output_tokens", "stream"}
    | {"metadata", "store", "reasoning", *_COPIED}
)


class ResponsesDialect:
    name = "responses"
    raises_on_interrupt = True

    def __init__(self) -> None:
        self.request: dict[str, Any] = {}

    def to_chat(self, body: dict[str, Any]) -> dict[str, Any]:
        self.request = body
        _refuse_stateful(body)
        chat: dict[str, Any] = {"model": body.get("model"), "messages": _messages(body)}
        for key in _COPIED:
            if body.get(key) is not None:
                chat[key] = body[key]
        if body.get("max_output_tokens") is not None:
            chat["max_completion_tokens"] = body["max_output_tokens"]
        effort = (body.get("reasoning") or {}).get("effort")
        if effort:
            chat["reasoning_effort"] = effort
        if body.get("tools"):
            chat["tools"] = [_tool(tool) for tool in body["tools"]]
        if body.get("tool_choice") is not None:
            chat["tool_choice"] = _tool_choice(body["tool_choice"])
        response_format = _format((body.get("text") or {}).get("format"))
        if response_format is not None:
            chat["response_format"] = response_format
        if body.get("stream"):
            chat["stream"] = True
            chat["stream_options"] = {"include_usage": True}
        return chat

    def answer(self, chat_body: bytes) -> bytes:
        chat = json.loads(chat_body)
        choice = (chat.get("choices") or [{}])[0]
        message = choice.get("message") or {}
        output: list[dict[str, Any]] = []
        if message.get("content") or message.get("refusal"):
            output.append(message_item(new_id("msg"), message.get("content") or "", message.get("refusal")))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            output.append(
                call_item(
                    new_id("fc"),
                    call.get("id") or new_id("call"),
                    function.get("name") or "",
                    function.get("arguments") or "",
                )
            )
        reason = choice.get("finish_reason")
        response = response_object(
            self.request, chat.get("id"), chat.get("model"), output, chat.get("usage"), reason
        )
        return json.dumps(response).encode()

    def stream(self) -> DialectStream:
        return ResponsesStream(self.request)

    def error(self, status: int, openai_error_body: bytes) -> tuple[int, bytes]:
        return status, openai_error_body  # the Responses API's errors are OpenAI's


def _refuse_stateful(body: dict[str, Any]) -> None:
    for key, why in _STATEFUL.items():
        if body.get(key):
            raise DialectError(f"`{key}` is not supported through ModelMesh: {why}.", key)
    if body.get("store") is True:
        raise DialectError(
            "`store: true` is not supported through ModelMesh: responses are not stored (send store: false "
            "or leave it out, and keep the conversation on your side).",
            "store",
        )
    unknown = sorted(k for k in body if k not in _HANDLED and k not in _IGNORED and body[k] is not None)
    if unknown:
        raise DialectError(
            f"`{unknown[0]}` is not supported through ModelMesh's Responses endpoint.", unknown[0]
        )


def _messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    items = body.get("input")
    if isinstance(items, str):
        return [*messages, {"role": "user", "content": items}]
    if not isinstance(items, list):
        raise DialectError("`input` must be a string or a list of input items.", "input", "invalid_value")
    for item in items:
        _add_item(messages, item)
    return messages


def _add_item(messages: list[dict[str, Any]], item: Any) -> None:
    kind = item.get("type", "message") if isinstance(item, dict) else None
    if kind == "message":
        role = "system" if item.get("role") == "developer" else item.get("role")
        messages.append({"role": role, "content": _content(item.get("content"))})
    elif kind == "function_call":
        call = {
            "id": item.get("call_id"),
            "type": "function",
            "function": {"name": item.get("name"), "arguments": item.get("arguments") or ""},
        }
        last = messages[-1] if messages else None
        if last and last["role"] == "assistant" and "tool_calls" in last:
            last["tool_calls"].append(call)  # parallel calls share one assistant turn
        else:
            messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
    elif kind == "function_call_output":
        output = item.get("output")
        text = output if isinstance(output, str) else json.dumps(output)
        messages.append({"role": "tool", "tool_call_id": item.get("call_id"), "content": text})
    elif kind == "reasoning":
        return  # a reasoning model's own summary: chat models cannot take it back
    else:
        raise DialectError(f"input items of type {kind!r} are not supported through ModelMesh.", "input")


def _content(content: Any) -> Any:
    if isinstance(content, str) or content is None:
        return content or ""
    parts: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image" and part.get("image_url"):
            image: dict[str, Any] = {"url": part["image_url"]}
            if part.get("detail"):
                image["detail"] = part["detail"]
            parts.append({"type": "image_url", "image_url": image})
        elif kind == "refusal":
            parts.append({"type": "text", "text": part.get("refusal", "")})
        else:
            raise DialectError(
                f"content parts of type {kind!r} are not supported through ModelMesh (file ids are "
                "provider state; send text or image URLs).",
                "input",
            )
    return parts


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise DialectError(
            f"the built-in tool {tool.get('type')!r} is not supported through ModelMesh: only function "
            "tools route across providers.",
            "tools",
        )
    function = {"name": tool.get("name"), "parameters": tool.get("parameters") or {"type": "object"}}
    if tool.get("description"):
        function["description"] = tool["description"]
    if tool.get("strict") is not None:
        function["strict"] = tool["strict"]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    raise DialectError(f"tool_choice {choice!r} is not supported through ModelMesh.", "tool_choice")


def _format(fmt: Any) -> dict[str, Any] | None:
    if not isinstance(fmt, dict) or fmt.get("type") in (None, "text"):
        return None
    if fmt["type"] == "json_object":
        return {"type": "json_object"}
    if fmt["type"] == "json_schema":
        schema = {"name": fmt.get("name") or "output", "schema": fmt.get("schema") or {}}
        if fmt.get("strict") is not None:
            schema["strict"] = fmt["strict"]
        if fmt.get("description"):
            schema["description"] = fmt["description"]
        return {"type": "json_schema", "json_schema": schema}
    raise DialectError(f"text.format {fmt['type']!r} is not supported through ModelMesh.", "text.format")
