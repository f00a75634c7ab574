"""Store traffic per request does not grow with the pool: a successful non-streamed request costs at
most four Redis commands (counted by the server itself, ``INFO commandstats``), with 1 model or 64."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from modelmesh import create
from modelmesh.testing import FakeProvider
from tests.state.conftest import RedisServer

HELLO = [{"role": "user", "content": "Hello!"}]


def commands(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    ours = ("cmdstat_info", "cmdstat_config")  # the test's own INFO and CONFIG RESETSTAT
    return sum(int(v["calls"]) for k, v in stats.items() if not k.startswith(ours))


@pytest.mark.parametrize("size", [1, 64])
def test_a_successful_request_costs_at_most_four_redis_commands(
    size: int, own_redis: RedisServer, openai_fake: FakeProvider
) -> None:
    openai_fake.reset()
    ids = ["gpt-4o"] + [f"gpt-4o-extra-{i}" for i in range(size - 1)]
    config = {
        "providers": {
            "openai": {"api_key": openai_fake.api_key, "base_url": openai_fake.base_url, "models": ids}
        },
        "pools": {"chat-completion": {"capability": "chat-completion"}},
        "storage": {"store": "modelmesh.redis.v1", "url": own_redis.url},
    }
    client = create(config=config)
    client.chat.completions.create(model="chat-completion", messages=HELLO)  # warm: the current model is set
    counter = redis.Redis.from_url(own_redis.url)
    counter.config_resetstat()
    for _ in range(5):
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    per_request = commands(counter) / 5
    counter_stats = {k: v["calls"] for k, v in counter.info("commandstats").items()}
    client.close()
    counter.close()
    assert per_request <= 4, counter_stats
