"""Meshes over the local fakes for the client-dialect tests: an OpenAI-dialect fake, an Anthropic one,
and pools that prefer either and fail over to the other."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from modelmesh.testing import FakeProvider, Fault

CLAUDE = "claude-sonnet-4-20250514"
GPT = "gpt-4o"
ORDERS = {"openai": [f"openai.{GPT}"], "anthropic": [f"anthropic.{CLAUDE}"]}
ORDERS["openai-then-anthropic"] = ORDERS["openai"] + ORDERS["anthropic"]
ORDERS["anthropic-then-openai"] = ORDERS["anthropic"] + ORDERS["openai"]
# Which model answers each order when the first provider fails.
FIRST, FALLBACK = (
    {"openai": GPT, "anthropic": CLAUDE},
    {"openai-then-anthropic": CLAUDE, "anthropic-then-openai": GPT},
)


def mesh_config(openai_fake: FakeProvider, anthropic_fake: FakeProvider, order: str) -> dict[str, Any]:
    providers = {
        "openai": {"api_key": openai_fake.api_key, "base_url": openai_fake.base_url, "models": [GPT]},
        "anthropic": {
            "api_key": anthropic_fake.api_key,
            "base_url": anthropic_fake.host_url,
            "models": [CLAUDE],
        },
    }
    pool = {
        "capability": "chat-completion",
        "strategy": "priority-selection",
        "model_priority": ORDERS[order],
        "retry": {"max_attempts": 1},
        "timeouts": {"connect_s": 2, "read_s": 5, "first_token_s": 5, "stall_s": 5, "total_s": 20},
    }
    return {"providers": providers, "pools": {"chat-completion": pool}}


@pytest.fixture
def both(
    openai_fake: FakeProvider, anthropic_fake: FakeProvider
) -> Iterator[tuple[FakeProvider, FakeProvider]]:
    openai_fake.reset()
    anthropic_fake.reset()
    yield openai_fake, anthropic_fake
    openai_fake.reset()
    anthropic_fake.reset()


def cut_after_content(order: str, openai_fake: FakeProvider, anthropic_fake: FakeProvider) -> None:
    """Cut the first provider's next stream after its first content (an Anthropic stream opens with
    message_start, content_block_start and a ping, so its first text is event 4)."""
    if order.startswith("openai"):
        openai_fake.fail_next(1, Fault.cut(after_events=3))
    else:
        anthropic_fake.fail_next(1, Fault.cut(after_events=5))


def fail_first(order: str, openai_fake: FakeProvider, anthropic_fake: FakeProvider, fault: Any) -> None:
    """Make the first provider of a failover order fail once with ``fault``."""
    (openai_fake if order.startswith("openai") else anthropic_fake).fail_next(1, fault)
