"""Concurrent use through the real clients: no lost counter updates from 8 threads or 256 tasks, and a
half-open model gets one probe however many requests arrive at once."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from modelmesh import create, create_async
from modelmesh.testing import FakeProvider, Fault

HELLO = [{"role": "user", "content": "Hello!"}]
GPT = "openai.gpt-4o"


def config(openai_fake: FakeProvider, groq_fake: FakeProvider, **extra: Any) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {
                "api_key": openai_fake.api_key,
                "base_url": openai_fake.base_url,
                "models": ["gpt-4o"],
                "quota": {"models": {"gpt-4o": [{"requests": 100_000, "per": "day"}]}},
            },
            "groq": {
                "api_key": groq_fake.api_key,
                "base_url": groq_fake.base_url,
                "models": ["llama-3.3-70b-versatile"],
            },
        },
        "pools": {
            "chat": {
                "capability": "chat-completion",
                "strategy": "priority-selection",
                "model_priority": ["gpt-4o"],
            }
        },
        **extra,
    }


def counted(client: Any) -> tuple[int, int, float]:
    state = client.mesh.store.read_models([GPT])[GPT]
    return (
        client.usage.by_model[GPT].requests,
        state.requests,
        sum(u for _, u in next(iter(state.quota.values()))),
    )


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_eight_threads_lose_no_counter_update(fakes, store: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes
    storage = {"store": store, "path": str(tmp_path / "state.db")} if store == "sqlite" else {}
    client = create(config=config(openai_fake, groq_fake, **({"storage": storage} if storage else {})))

    def work(_: int) -> list[str]:
        return [client.chat.completions.create(model="chat", messages=HELLO).model for _ in range(25)]

    with ThreadPoolExecutor(8) as pool:
        models = [m for batch in pool.map(work, range(8)) for m in batch]
    assert models == ["gpt-4o"] * 200 and openai_fake.calls() == 200
    assert counted(client) == (200, 200, 200)
    client.close()


def test_256_concurrent_tasks_lose_no_counter_update(fakes) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes

    async def main() -> tuple[list[str], tuple[int, int, float]]:
        async with create_async(config=config(openai_fake, groq_fake)) as client:
            responses = await asyncio.gather(
                *(client.chat.completions.create(model="chat", messages=HELLO) for _ in range(256))
            )
            return [r.model for r in responses], counted(client)

    models, counts = asyncio.run(main())
    assert models == ["gpt-4o"] * 256 and counts == (256, 256, 256)


def test_a_half_open_model_gets_one_probe_from_a_burst(fakes) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes
    client = create(config=config(openai_fake, groq_fake))
    now = time.time()

    def rested(state: Any) -> None:  # its cooldown just ended: half-open
        state.standby_until, state.standby_reason = now - 1, "3 consecutive failures (server)"

    client.mesh.store.update_model(GPT, rested)
    openai_fake.fail_next(1, Fault.latency(0.5))  # the probe takes a while; the burst arrives meanwhile
    with ThreadPoolExecutor(16) as pool:
        models = list(
            pool.map(lambda _: client.chat.completions.create(model="chat", messages=HELLO).model, range(16))
        )
    assert openai_fake.calls() == 1 and models.count("gpt-4o") == 1
    assert client.chat.completions.create(model="chat", messages=HELLO).model == "gpt-4o"  # circuit closed
    client.close()
