"""What a client may send the proxy: a body of bounded size, read within a deadline, that is sound JSON.

Owns reading the ASGI request body (counted as it streams in, never buffering past the limit, under a
read deadline) and the JSON checks that must happen before the mesh parses a body: valid, an object,
bounded nesting, one ``model``. Each refusal is a :class:`RequestRefused` carrying its status and an
OpenAI-style code. It deliberately routes nothing and never reads what the JSON means beyond ``model``.
"""

from __future__ import annotations

import asyncio
import json
import operator
import re
from collections.abc import Awaitable, Callable, MutableMapping
from functools import partial
from itertools import accumulate, repeat
from typing import Any

from modelmesh.serve.replies import RequestRefused

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]

# Escapes first (each backslash pair removed), then strings: two linear passes. A single regex for a
# string with escapes backtracks quadratically on a hostile run of \" (80 KB took 25 s).
_ESCAPE = re.compile(rb"\\.", re.DOTALL)
_STRING = re.compile(rb'"[^"]*"')
_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
_JSON_TYPES[type(None)] = "null"
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # minus 1: an opener +1, a closer -1


async def read_body(
    receive: Receive, content_length: bytes | None, *, limit: int, timeout_s: float
) -> bytes | None:
    """The whole request body, or None when the client left while sending it (nothing to answer)."""
    if content_length is not None and content_length.isdigit() and int(content_length) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError:
        raise RequestRefused(
            408,
            f"The request body did not arrive within {timeout_s:g} s: send it at once (the proxy "
            "closes slow uploads).",
            "request_timeout",
            {"connection": "close"},
        ) from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> RequestRefused:
    return RequestRefused(
        413,
        f"The request body is larger than this proxy accepts ({limit:,} bytes); the operator sets the "
        "limit with --max-body-mb.",
        "request_too_large",
        {"connection": "close"},
    )


def checked_json(body: bytes, max_depth: int) -> dict[str, Any]:
    """The body as a JSON object, refused with a 400 naming what is wrong."""
    if not body.strip():
        raise _invalid('The request body is empty: send a JSON object such as {"model": ..., ...}.')
    if _depth_exceeds(body, max_depth):
        raise _invalid(f"The JSON body is nested deeper than {max_depth} levels.")
    try:
        # The hook costs a Python call per object: only needed when "model" appears more than once.
        hook = _no_duplicate_model if body.count(b'"model"') > 1 else None
        parsed = json.loads(body, object_pairs_hook=hook)
    except UnicodeDecodeError:
        raise _invalid("The request body is not UTF-8 text: send JSON encoded as UTF-8.") from None
    except json.JSONDecodeError as exc:
        raise _invalid(f"The request body is not valid JSON ({exc.msg} at character {exc.pos}).") from None
    except _DuplicateModel:
        raise _invalid(
            'The JSON body names "model" more than once: send it once (which to route is ambiguous).'
        ) from None
    except ValueError:  # an integer longer than Python parses (4,300 digits by default)
        raise _invalid("The request body is not valid JSON: a number has too many digits.") from None
    if not isinstance(parsed, dict):
        raise _invalid(
            f"The JSON body must be an object ({{...}}), not {_JSON_TYPES.get(type(parsed), 'a value')}."
        )
    return parsed


def _depth_exceeds(body: bytes, max_depth: int) -> bool:
    """Bracket nesting deeper than ``max_depth``, found without recursion (json.loads would recurse).

    Linear and in C: strings removed, brackets kept as +1/-1 steps, running depth accumulated, stopping
    at the first level past the limit (a hostile 8 MB of ``[`` is refused in milliseconds).
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    outside_strings = _STRING.sub(b"", _ESCAPE.sub(b"", body))
    steps = outside_strings.translate(None, _NOT_BRACKETS).translate(_STEPS)
    depths = accumulate(map(operator.sub, steps, repeat(1)))
    return next(filter(partial(operator.lt, max_depth), depths), None) is not None


class _DuplicateModel(ValueError):
    pass


def _no_duplicate_model(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) < len(pairs) and sum(1 for key, _ in pairs if key == "model") > 1:
        raise _DuplicateModel
    return result


def _invalid(message: str) -> RequestRefused:
    return RequestRefused(400, message, "invalid_request_body")
