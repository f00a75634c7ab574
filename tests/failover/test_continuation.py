"""Resuming a broken stream: what the caller's one stitched stream looks like, across dialects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from modelmesh import create, create_async
from modelmesh.routing.continuation import Stitcher
from modelmesh.testing import FakeProvider, Fault
from tests.failover.bench import CANONICAL, PROMPT, canonical_responder, norm


@pytest.fixture(scope="module")
def pair() -> Iterator[tuple[FakeProvider, FakeProvider]]:
    openai_fake = FakeProvider("first", models=["gpt-x"], responder=canonical_responder)
    claude = FakeProvider("claude", models=["claude-x"], dialect="anthropic", responder=canonical_responder)
    with openai_fake, claude:
        yield openai_fake, claude


def config(first: FakeProvider, claude: FakeProvider) -> dict[str, Any]:
    chat = {"capabilities": ["chat-completion"]}
    return {
        "providers": {
            "first": {"base_url": first.base_url, "api_key": first.api_key, "models": ["gpt-x"]},
            "claude": {
                "connector": "anthropic.claude.v1",
                "base_url": claude.base_url,
                "api_key": claude.api_key,
                "models": ["claude-x"],
            },
        },
        "models": {
            "first.gpt-x": {"provider": "first", **chat, "features": ["system_prompt"]},
            "claude.claude-x": {
                "provider": "claude",
                **chat,
                "features": ["system_prompt", "assistant_prefill"],
            },
        },
        "pools": {"chat": {"capability": "chat-completion", "streaming": {"on_interrupt": "continue"}}},
    }


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_cut_openai_stream_is_finished_by_a_claude_model_in_the_same_stream(pair, mode: str) -> None:  # type: ignore[no-untyped-def]
    first, claude = pair
    first.reset()
    claude.reset()
    first.set_outage(Fault.cut(after_events=31))  # 30 of the 60 words
    kwargs: dict[str, Any] = {
        "model": "chat",
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if mode == "sync":
        client = create(config=config(first, claude))
        chunks = list(client.chat.completions.create(**kwargs))
        ledger = client.usage
        client.close()
    else:

        async def run() -> tuple[list[Any], Any]:
            async with create_async(config=config(first, claude)) as client:
                return [c async for c in await client.chat.completions.create(**kwargs)], client.usage

        chunks, ledger = asyncio.run(run())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == CANONICAL  # no doubled or missing space at the seam
    assert len({c.id for c in chunks}) == 1
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.role) == 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == [
        "stop"
    ]
    assert [c for c in chunks if c.usage] == [chunks[-1]] and chunks[-1].usage.completion_tokens > 0
    assert ledger.by_model["claude.claude-x"].requests == 1 and "first.gpt-x" not in ledger.by_model
    sent = claude.requests[-1].json
    assert sent["messages"][-1]["role"] == "assistant" and CANONICAL.startswith(
        sent["messages"][-1]["content"]
    )


def test_the_stitcher_keeps_one_id_and_merges_usage() -> None:
    def chunk(cid: str, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"id": cid, "model": "m", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    stitcher = Stitcher(wants_usage=True)
    role = {"role": "assistant", "content": ""}
    out = stitcher.chunks([chunk("a", role), chunk("a", {"content": "Hi "})])
    stitcher.next_segment()
    out += stitcher.chunks([chunk("b", dict(role)), chunk("b", {"content": " there"})])
    usage = {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    out += stitcher.chunks([chunk("b", {}, "stop"), {"id": "b", "choices": [], "usage": usage}, None])
    out += stitcher.final_usage_event()
    payloads = [json.loads(line[6:]) for line in out.decode().split("\n\n") if line.startswith("data: {")]
    assert {p["id"] for p in payloads} == {"a"}
    assert (
        norm(stitcher.text) == "Hi there" and stitcher.text == "Hi there"
    )  # the seam's space is not doubled
    assert payloads[-1]["usage"] == {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}
    assert b"[DONE]" not in out  # the relay ends the stitched stream itself
