"""OpenAI chat body -> Anthropic Messages request body: the request half of ``anthropic.claude.v1``.

Owns the translation rules: the system prompt (``system`` / ``developer`` turns), strict role
alternation, images and documents, assistant tool calls and tool results (with ids made Anthropic-safe
on both sides), tools and ``tool_choice``, stop sequences, sampling clamps, ``max_tokens`` and the
forced tool that emulates ``response_format`` (see ``anthropic_messages`` for why a tool).

Deliberately not here: headers, I/O and everything about answers and errors (``anthropic_messages``,
``anthropic_stream``, ``anthropic_errors``). Pure functions of their inputs; an untranslatable
request raises ``UnsupportedRequest`` (a ``ValueError``) naming what Anthropic models do not support.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from modelmesh.connectors.base import UnsupportedRequest
from modelmesh.types import ModelSpec

__all__ = ["DEFAULT_MAX_TOKENS", "messages_body", "messages_url", "structured_tool_name"]

DEFAULT_MAX_TOKENS = 4096
_JSON_OBJECT_TOOL = "json_response"
_DATA_URL = re.compile(r"^data:(?P<mime>[^;,]+)(?:;[^,]*)?;base64,(?P<data>.*)$", re.DOTALL)
_UNSAFE_TOOL_ID = re.compile(r"[^a-zA-Z0-9_-]")


def messages_url(base_url: str) -> str:
    """``base_url`` is the host root (as ``ANTHROPIC_BASE_URL``); a trailing ``/v1`` is tolerated."""
    root = base_url.rstrip("/")
    root = root.removesuffix("/v1")
    return f"{root}/v1/messages"


def structured_tool_name(chat: Mapping[str, Any]) -> str | None:
    """The name of the forced tool that emulates ``response_format`` for this request, if any."""
    tool = _structured_tool(chat.get("response_format"))
    return None if tool is None else str(tool["name"])


def messages_body(chat: Mapping[str, Any], model: ModelSpec) -> dict[str, Any]:
    """An OpenAI chat body -> an Anthropic Messages body for ``model``."""
    n = chat.get("n")
    if n is not None and n != 1:
        # Anthropic returns one answer per request; faking n>1 with n requests is the caller's decision.
        raise UnsupportedRequest(
            f"n={n} is not supported by Anthropic models ({model.key}); send n separate requests"
        )
    system, messages = _convert_messages(chat.get("messages") or [])
    body: dict[str, Any] = {"model": model.id, "max_tokens": _max_tokens(chat, model), "messages": messages}
    if system:
        body["system"] = system
    _apply_sampling(chat, body)
    _apply_tools(chat, body)
    if chat.get("stream"):
        body["stream"] = True
    if chat.get("user"):
        body["metadata"] = {"user_id": str(chat["user"])}
    return body


def _max_tokens(chat: Mapping[str, Any], model: ModelSpec) -> int:
    # Anthropic requires max_tokens. A limit sized for another provider is clamped rather than refused,
    # so failing over from a model with a larger output budget still works.
    asked = chat.get("max_completion_tokens") or chat.get("max_tokens")
    if asked is None:
        return model.max_output_tokens or DEFAULT_MAX_TOKENS
    return min(int(asked), model.max_output_tokens) if model.max_output_tokens else int(asked)


def _apply_sampling(chat: Mapping[str, Any], body: dict[str, Any]) -> None:
    temperature = chat.get("temperature")
    if temperature is not None:
        # OpenAI allows 0..2, Anthropic 0..1: clamp instead of turning a portable request into a 400.
        body["temperature"] = min(max(float(temperature), 0.0), 1.0)
    elif chat.get("top_p") is not None:
        # Recent Claude models refuse temperature and top_p together; temperature wins.
        body["top_p"] = chat["top_p"]
    stop = chat.get("stop")
    if stop:
        body["stop_sequences"] = [stop] if isinstance(stop, str) else list(stop)


def _convert_messages(
    messages: list[dict[str, Any]],
) -> tuple[str | list[dict[str, Any]], list[dict[str, Any]]]:
    """OpenAI messages -> (Anthropic ``system``, alternating Anthropic turns)."""
    system_parts: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system_parts.extend(_content_blocks(message.get("content"), role=str(role)))
            continue
        if role == "tool":
            anthropic_role, blocks = "user", [_tool_result(message)]
        elif role == "assistant":
            anthropic_role, blocks = "assistant", _assistant_blocks(message)
        elif role == "user":
            anthropic_role, blocks = "user", _content_blocks(message.get("content"), role="user")
        else:
            raise UnsupportedRequest(f"unsupported message role {role!r} for the Anthropic Messages dialect")
        if not blocks:
            continue
        if turns and turns[-1]["role"] == anthropic_role:
            # Anthropic needs strict alternation; consecutive turns of one role become one turn.
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": anthropic_role, "content": blocks})
    _trim_prefill(turns)
    return _system(system_parts), [_compact(turn) for turn in turns]


def _system(parts: list[dict[str, Any]]) -> str | list[dict[str, Any]]:
    # Text blocks only when a part carries cache_control; otherwise one plain string is the simplest form.
    if any("cache_control" in part for part in parts):
        return parts
    return "\n\n".join(part["text"] for part in parts)


def _compact(turn: dict[str, Any]) -> dict[str, Any]:
    blocks = turn["content"]
    if len(blocks) == 1 and blocks[0]["type"] == "text" and "cache_control" not in blocks[0]:
        return {"role": turn["role"], "content": blocks[0]["text"]}
    return turn


def _trim_prefill(turns: list[dict[str, Any]]) -> None:
    # Anthropic rejects a final (prefill) assistant turn ending in whitespace.
    if not turns or turns[-1]["role"] != "assistant":
        return
    blocks = turns[-1]["content"]
    if blocks[-1]["type"] == "text":
        blocks[-1]["text"] = blocks[-1]["text"].rstrip()
        if not blocks[-1]["text"]:
            blocks.pop()
    if not blocks:
        turns.pop()


def _content_blocks(content: Any, *, role: str) -> list[dict[str, Any]]:
    """OpenAI message content (string or parts) -> Anthropic content blocks, empty text dropped."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                block: dict[str, Any] = {"type": "text", "text": part["text"]}
                if "cache_control" in part:
                    block["cache_control"] = part["cache_control"]
                blocks.append(block)
        elif kind == "refusal" and part.get("refusal"):
            # An earlier model's refusal, replayed in the history: Claude sees it as what was said.
            blocks.append({"type": "text", "text": part["refusal"]})
        elif kind == "image_url" and role in ("user", "tool"):
            blocks.append(_image_block(part["image_url"]))
        elif kind == "file" and role == "user":
            blocks.append(_document_block(part["file"]))
        else:
            raise UnsupportedRequest(
                f"{role} content part of type {kind!r} is not supported by Anthropic models"
            )
    return blocks


def _image_block(image: Mapping[str, Any] | str) -> dict[str, Any]:
    url = image if isinstance(image, str) else str(image.get("url") or "")
    match = _DATA_URL.match(url)
    if match:
        source = {"type": "base64", "media_type": match["mime"], "data": match["data"]}
        return {"type": "image", "source": source}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise UnsupportedRequest("an image_url must be a base64 data: URL or an http(s) URL")


def _document_block(file: Mapping[str, Any]) -> dict[str, Any]:
    match = _DATA_URL.match(str(file.get("file_data") or ""))
    if not match:
        raise UnsupportedRequest(
            "file parts need inline base64 file_data for Anthropic models (file_id is OpenAI-only)"
        )
    source = {"type": "base64", "media_type": match["mime"], "data": match["data"]}
    return {"type": "document", "source": source}


def _assistant_blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    blocks = _content_blocks(message.get("content"), role="assistant")
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": _tool_id(call.get("id")),
                "name": function.get("name"),
                "input": _tool_input(function.get("arguments"), function.get("name")),
            }
        )
    return blocks


def _tool_input(arguments: Any, name: Any) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    try:
        parsed = json.loads(arguments) if arguments else {}
    except json.JSONDecodeError as exc:
        raise UnsupportedRequest(f"tool call {name!r} has arguments that are not valid JSON: {exc}") from exc
    if not isinstance(parsed, dict):
        raise UnsupportedRequest(f"tool call {name!r} arguments must be a JSON object for Anthropic models")
    return parsed


def _tool_result(message: Mapping[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    result: Any = content if isinstance(content, str) else _content_blocks(content, role="tool")
    return {"type": "tool_result", "tool_use_id": _tool_id(message.get("tool_call_id")), "content": result}


def _tool_id(call_id: Any) -> str:
    # Anthropic accepts only [a-zA-Z0-9_-] ids; ids minted by other providers are made to fit the same way
    # on both sides (tool_use and tool_result), so the pairing survives a failover.
    return _UNSAFE_TOOL_ID.sub("_", str(call_id or ""))


def _apply_tools(chat: Mapping[str, Any], body: dict[str, Any]) -> None:
    tools = [_tool(tool) for tool in chat.get("tools") or []]
    choice = _tool_choice(chat.get("tool_choice")) if tools else None
    structured = _structured_tool(chat.get("response_format"))
    if structured is not None:
        choice = _structured_choice(choice, str(structured["name"]), has_user_tools=bool(tools))
        tools.append(structured)
    if chat.get("parallel_tool_calls") is False and tools:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if tools:
        body["tools"] = tools
    if choice is not None:
        body["tool_choice"] = choice


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise UnsupportedRequest(f"tool type {tool.get('type')!r} is not supported by Anthropic models")
    function = tool["function"]
    converted: dict[str, Any] = {
        "name": function["name"],
        "input_schema": function.get("parameters") or {"type": "object", "properties": {}},
    }
    if function.get("description"):
        converted["description"] = function["description"]
    return converted


def _tool_choice(choice: Any) -> dict[str, Any] | None:
    if choice is None:
        return None
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        return {"type": "tool", "name": choice["function"]["name"]}
    raise UnsupportedRequest(f"unsupported tool_choice {choice!r} for Anthropic models")


def _structured_tool(response_format: Any) -> dict[str, Any] | None:
    if not isinstance(response_format, Mapping):
        return None
    if response_format.get("type") == "json_object":
        schema = {"type": "object", "additionalProperties": True}
        return {
            "name": _JSON_OBJECT_TOOL,
            "description": "Respond with a JSON object.",
            "input_schema": schema,
        }
    if response_format.get("type") != "json_schema":
        return None
    spec = response_format.get("json_schema") or {}
    return {
        "name": spec.get("name") or _JSON_OBJECT_TOOL,
        "description": spec.get("description") or "Respond with JSON that matches this schema.",
        "input_schema": spec.get("schema") or {"type": "object"},
    }


def _structured_choice(choice: dict[str, Any] | None, name: str, *, has_user_tools: bool) -> dict[str, Any]:
    """With the caller's own tools the model must call one of them or answer through the schema tool."""
    if has_user_tools and choice is not None and choice["type"] == "tool":
        return choice
    if has_user_tools and (choice is None or choice["type"] in ("auto", "any")):
        return {"type": "any"}
    return {"type": "tool", "name": name}
