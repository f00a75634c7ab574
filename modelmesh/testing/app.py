"""The Starlette app of one fake provider: the routes of the dialect it speaks.

It holds no request handling: the shared pipeline is ``pipeline``'s (its names are re-exported here, where
they used to live) and each dialect's endpoints are ``openai_app``'s or ``anthropic_app``'s.

This module imports Starlette; it is imported when the first server starts, never by
``import modelmesh.testing``.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Route

from modelmesh.testing import anthropic_app, openai_app
from modelmesh.testing.pipeline import (
    Dialect,
    Endpoint,
    Payload,
    Produce,
    ProviderContext,
    parse_json,
    parse_multipart,
)

__all__ = [
    "Dialect",
    "Endpoint",
    "Payload",
    "Produce",
    "ProviderContext",
    "build_app",
    "parse_json",
    "parse_multipart",
]


def build_app(ctx: ProviderContext, dialect_name: str) -> Starlette:
    """The Starlette app of one fake provider speaking ``dialect_name``."""
    routes = anthropic_app.routes if dialect_name == "anthropic" else openai_app.routes
    app_routes: list[Route] = routes(ctx)
    return Starlette(routes=app_routes)
