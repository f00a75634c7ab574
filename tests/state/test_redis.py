"""The Redis store against a real ``redis-server``: atomicity, sharing, outage and recovery."""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from modelmesh.state.base import ModelState
from modelmesh.state.redis import RedisStateStore
from tests.state import contract
from tests.state.conftest import RedisServer

pytestmark = pytest.mark.redis


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(redis_server: RedisServer, prefix: str) -> Iterator[RedisStateStore]:
    store = RedisStateStore(url=redis_server.url, prefix=prefix)
    yield store
    store.close()


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "modelmesh.state" and r.levelno >= logging.WARNING
    ]


def deactivate(state: ModelState) -> None:
    state.standby_until, state.standby_reason = math.inf, "HTTP 404"


def test_redis_store_round_trips_every_record(store: RedisStateStore) -> None:
    contract.check_round_trip(store)
    assert not store.degraded


def test_records_are_json_under_the_prefix(store: RedisStateStore, redis_server: RedisServer) -> None:
    import redis

    store.update_pool("chat", contract.advance_cursor)
    with redis.Redis.from_url(redis_server.url) as client:
        assert b'"cursor":1' in client.get(f"{store.prefix}:pool:chat")


def test_eight_threads_lose_no_updates(store: RedisStateStore) -> None:
    contract.check_threads_lose_no_updates(store)


async def test_256_concurrent_tasks_lose_no_updates(store: RedisStateStore) -> None:
    async def one_request() -> int:
        await asyncio.to_thread(store.update_model, "p.m", contract.increment_failures)
        return await asyncio.to_thread(store.update_pool, "chat", contract.advance_cursor)

    cursors = await asyncio.gather(*(one_request() for _ in range(256)))
    assert sorted(cursors) == list(range(256))
    assert store.read_models(["p.m"])["p.m"].failures == 256


def test_two_stores_see_each_others_deactivation_immediately(redis_server: RedisServer, prefix: str) -> None:
    first = RedisStateStore(url=redis_server.url, prefix=prefix)
    second = RedisStateStore(url=redis_server.url, prefix=prefix)
    first.update_model("openai.gpt", deactivate)
    assert not second.read_models(["openai.gpt"])["openai.gpt"].is_active(now=time.time())
    second.update_provider("openai", lambda s: setattr(s, "disabled_until", math.inf))
    assert not first.read_provider("openai").is_active(now=time.time())
    first.close()
    second.close()


def test_a_second_process_updating_concurrently_loses_no_updates(
    redis_server: RedisServer, store: RedisStateStore
) -> None:
    contract.run_with_second_process(store, "redis", redis_server.url, store.prefix)


def test_a_failed_update_changes_nothing(store: RedisStateStore) -> None:
    contract.check_failed_update_changes_nothing(store)


def test_redis_going_away_degrades_to_local_state_with_one_warning_and_recovers(
    own_redis: RedisServer, prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    store = RedisStateStore(url=own_redis.url, prefix=prefix, reconnect_interval_s=5, clock=clock)
    store.update_model("openai.gpt", deactivate)
    assert store.update_pool("chat", contract.advance_cursor) == 0

    own_redis.stop()
    caplog.set_level(logging.INFO, logger="modelmesh.state")
    started = time.monotonic()
    cursors: list[int] = []

    def route() -> None:  # what a request does: read health, step the cursor, record an outcome
        for _ in range(25):
            assert not store.read_models(["openai.gpt"])["openai.gpt"].is_active(now=time.time())
            cursors.append(store.update_pool("chat", contract.advance_cursor))
            store.update_model("openai.mini", contract.increment_failures)

    threads = [threading.Thread(target=route) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started < 2
    assert store.degraded
    assert sorted(cursors) == list(range(1, 201))  # carried on from the last shared cursor
    [warning] = warnings_from(caplog)
    assert "routing on local state" in warning

    own_redis.start()  # comes back empty: nothing was persisted
    assert store.read_pool("chat").cursor == 201
    assert store.degraded, "probed before reconnect_interval_s had passed"
    clock.now += 5
    store.read_pool("chat")
    assert not store.degraded
    assert any("reachable again" in r.getMessage() for r in caplog.records)

    other = RedisStateStore(url=own_redis.url, prefix=prefix)
    assert other.read_pool("chat").cursor == 201  # changes made while degraded were written back
    assert other.read_models(["openai.mini"])["openai.mini"].failures == 200
    other.update_provider("openai", lambda s: setattr(s, "reason", "HTTP 401"))
    assert store.read_provider("openai").reason == "HTTP 401"  # shared again
    assert len(warnings_from(caplog)) == 1
    other.close()
    store.close()


def test_written_back_records_do_not_override_what_redis_holds(own_redis: RedisServer, prefix: str) -> None:
    clock = FakeClock()
    store = RedisStateStore(url=own_redis.url, prefix=prefix, reconnect_interval_s=5, clock=clock)
    own_redis.stop()
    store.update_pool("chat", contract.advance_cursor)
    assert store.degraded
    own_redis.start()
    other = RedisStateStore(url=own_redis.url, prefix=prefix)
    other.update_pool("chat", lambda s: setattr(s, "cursor", 42))
    clock.now += 5
    assert store.read_pool("chat").cursor == 42
    other.close()
    store.close()


def test_a_redis_that_never_answers_stalls_only_the_first_call(prefix: str) -> None:
    with socket.socket() as listener:  # accepts connections in the kernel backlog, never replies
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        url = f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
        store = RedisStateStore(url=url, prefix=prefix, timeout_s=0.1)
        started = time.monotonic()
        assert store.update_pool("chat", contract.advance_cursor) == 0
        first = time.monotonic() - started
        started = time.monotonic()
        for _ in range(100):
            store.update_pool("chat", contract.advance_cursor)
        rest = time.monotonic() - started
        store.close()
    assert store.degraded
    assert first < 1.0
    assert rest < 0.1


def test_the_password_never_reaches_logs_or_repr(prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    store = RedisStateStore(url=f"redis://admin:s3cret-pw@127.0.0.1:{port}/2", prefix=prefix)
    caplog.set_level(logging.INFO, logger="modelmesh.state")
    store.read_pool("chat")
    assert store.degraded
    assert repr(store) == f"RedisStateStore(redis://127.0.0.1:{port}/2, prefix='{prefix}', degraded)"
    assert "s3cret" not in caplog.text
    assert warnings_from(caplog)
    store.close()


def test_unknown_options_are_ignored(redis_server: RedisServer, prefix: str) -> None:
    store = RedisStateStore(url=redis_server.url, prefix=prefix, path="ignored.sqlite3")
    assert store.update_pool("chat", contract.advance_cursor) == 0
    store.close()


def test_the_registry_builds_the_store_as_the_builder_does(redis_server: RedisServer, prefix: str) -> None:
    from modelmesh.registry import STATE_STORES

    store = STATE_STORES.get("redis")(prefix=prefix, url=redis_server.url)
    assert isinstance(store, RedisStateStore)
    assert store.update_pool("chat", contract.advance_cursor) == 0
    store.close()
