"""Which client dialect a request path speaks: the path -> dialect table and ``dialect_for``.

Owns the table (``/responses`` and ``/messages`` suffixes; ``COUNT_TOKENS``, the Messages API's local
token estimate) and a new dialect per request. It translates nothing (each dialect's module does) and
does not decide what happens to a path without a dialect: the engine routes it as OpenAI's.
"""

from __future__ import annotations

from collections.abc import Callable

from modelmesh.dialects.base import ClientDialect
from modelmesh.dialects.messages import MessagesDialect
from modelmesh.dialects.responses import ResponsesDialect

# Path suffix -> dialect factory. Checked only for paths that are not OpenAI chat endpoints.
DIALECTS: dict[str, Callable[[], ClientDialect]] = {
    "/responses": ResponsesDialect,
    "/messages": MessagesDialect,
}
COUNT_TOKENS = "/messages/count_tokens"


def dialect_for(path: str) -> ClientDialect | None:
    """A new dialect for the request path (``/v1/responses``, ``/v1/messages``), or None."""
    path = path.rstrip("/")
    for suffix, factory in DIALECTS.items():
        if path.endswith(suffix):
            return factory()
    return None
