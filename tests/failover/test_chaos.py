"""A bounded chaos soak: three fakes answering with random faults and one healthy fake; every request,
streamed or not, sync or async, gets the complete answer, and none takes long (seeded, under a minute)."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator
from typing import Any

import pytest

from modelmesh import create, create_async
from modelmesh.testing import FakeProvider, Fault
from tests.failover.bench import CANONICAL, PROMPT, canonical_responder, norm

REQUESTS = 60
PER_REQUEST_MAX_S = 8.0
FAULTS = [
    lambda: Fault.status(500),
    lambda: Fault.status(503),
    lambda: Fault.status(429, retry_after=0.1),
    lambda: Fault.status(429),
    Fault.reset,
    lambda: Fault.latency(2),
    lambda: Fault.slow_first_token(2),
    lambda: Fault.stall(after_events=5, seconds=2),
    lambda: Fault.cut(after_events=5),
    lambda: Fault.cut(after_events=12),
    lambda: Fault.malformed(after_events=3),
    Fault.no_done,
    None,  # sometimes a faulty provider behaves
]


@pytest.fixture(scope="module")
def chaos() -> Iterator[list[FakeProvider]]:
    fakes = [FakeProvider(f"chaos{i}", models=[f"m{i}"], responder=canonical_responder) for i in range(4)]
    for fake in fakes:
        fake.start()
    yield fakes
    for fake in fakes:
        fake.stop()


def soak_config(fakes: list[FakeProvider]) -> dict[str, Any]:
    declared = {"capabilities": ["chat-completion"], "features": ["system_prompt", "assistant_prefill"]}
    return {
        "providers": {
            f.name: {"base_url": f.base_url, "api_key": f.api_key, "models": f.models} for f in fakes
        },
        "models": {f"{f.name}.{f.models[0]}": {"provider": f.name, **declared} for f in fakes},
        "pools": {
            "chat": {
                "capability": "chat-completion",
                "strategy": "round-robin",
                "retry": {"max_attempts": 2, "backoff_base_s": 0.02, "backoff_max_s": 0.1},
                "timeouts": {
                    "connect_s": 1,
                    "read_s": 0.4,
                    "first_token_s": 0.4,
                    "stall_s": 0.4,
                    "total_s": 6,
                },
                "recovery": {"cooldown_s": 0.5},
                "streaming": {"on_interrupt": "continue", "max_continuations": 3},
            }
        },
    }


def script_faults(fakes: list[FakeProvider], seed: int) -> None:
    rng = random.Random(seed)
    for fake in fakes[:3]:  # the fourth is the healthy one
        fake.reset()
        fake.script([(f() if (f := rng.choice(FAULTS)) else None) for _ in range(REQUESTS * 3)])
    fakes[3].reset()


def check(answers: list[tuple[str, float]]) -> None:
    assert len(answers) == REQUESTS
    for text, elapsed in answers:
        assert norm(text) == norm(CANONICAL)
        assert elapsed < PER_REQUEST_MAX_S


def test_chaos_soak_sync(chaos: list[FakeProvider]) -> None:
    script_faults(chaos, seed=11)
    client = create(config=soak_config(chaos))
    events: list[dict[str, Any]] = []
    client.mesh.observer = type("Recorder", (), {"enabled": True, "emit": lambda self, e: events.append(e)})()
    answers = []
    for i in range(REQUESTS):
        start = time.monotonic()
        messages = [{"role": "user", "content": PROMPT}]
        if i % 2:
            chunks = client.chat.completions.create(model="chat", messages=messages, stream=True)
            text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        else:
            text = (
                client.chat.completions.create(model="chat", messages=messages).choices[0].message.content
                or ""
            )
        answers.append((text, time.monotonic() - start))
    client.close()
    check(answers)
    kinds = [e["event"] for e in events]
    assert {"failover", "deactivation", "continuation", "probe"} <= set(kinds), kinds  # the chaos was real


def test_chaos_soak_async_concurrent(chaos: list[FakeProvider]) -> None:
    script_faults(chaos, seed=23)

    async def one(client: Any, i: int) -> tuple[str, float]:
        start = time.monotonic()
        messages = [{"role": "user", "content": PROMPT}]
        if i % 2:
            stream = await client.chat.completions.create(model="chat", messages=messages, stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        else:
            response = await client.chat.completions.create(model="chat", messages=messages)
            text = response.choices[0].message.content or ""
        return text, time.monotonic() - start

    async def main() -> list[tuple[str, float]]:
        async with create_async(config=soak_config(chaos)) as client:
            gate = asyncio.Semaphore(8)

            async def bounded(i: int) -> tuple[str, float]:
                async with gate:
                    return await asyncio.wait_for(one(client, i), PER_REQUEST_MAX_S * 2)

            return list(await asyncio.gather(*(bounded(i) for i in range(REQUESTS))))

    check(asyncio.run(main()))
