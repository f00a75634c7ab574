"""An offline token estimate for the LangChain classes.

langchain-openai counts with tiktoken, which downloads its encoding files on first use and so fails
offline, and a pool may be answered by models with different tokenizers anyway. This estimate splits
text into words and punctuation marks (roughly 1.3 tokens per English word of a BPE tokenizer, close
enough for budgeting and trimming). It deliberately does not try to match any real tokenizer.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.utils.function_calling import convert_to_openai_tool

_PIECE = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_LONG_WORD = 6  # a word longer than this counts as one more token per extra 6 characters
# OpenAI's chat format: every message costs a few tokens of framing, every reply is primed with 3.
_PER_MESSAGE = 3
_PER_REPLY = 3


def estimate_token_ids(text: str) -> list[int]:
    """Stable pseudo token ids: one per punctuation mark, one per 6 characters of each word."""
    ids: list[int] = []
    for piece in _PIECE.findall(text):
        for start in range(0, len(piece), _LONG_WORD):
            ids.append(zlib.crc32(piece[start : start + _LONG_WORD].encode()) & 0xFFFF)
    return ids


def estimate_message_tokens(messages: Sequence[BaseMessage], tools: Sequence[Any] | None = None) -> int:
    """Estimated prompt tokens of ``messages`` (content, names, tool calls) and of the tool schemas."""
    total = _PER_REPLY
    for message in messages:
        total += _PER_MESSAGE + len(estimate_token_ids(_text_of(message.content)))
        if message.name:
            total += 1 + len(estimate_token_ids(message.name))
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                total += len(estimate_token_ids(call["name"] + json.dumps(call["args"])))
    for tool in tools or ():
        total += len(estimate_token_ids(json.dumps(convert_to_openai_tool(tool))))
    return total


def _text_of(content: str | list[Any]) -> str:
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for part in content:
        if isinstance(part, str):
            parts.append(part)
        elif isinstance(part, dict) and isinstance(part.get("text"), str):
            parts.append(part["text"])
    return " ".join(parts)
