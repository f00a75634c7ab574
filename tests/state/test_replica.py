"""The replica over a shared store (ADR 0006): routing reads memory and writes bookkeeping behind, while
routing changes reach the store at once and no update is lost between processes."""

from __future__ import annotations

import asyncio
import math
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import pytest

from modelmesh.state.base import ModelState, SessionBinding
from modelmesh.state.batch import Change, Op
from modelmesh.state.replica import ReplicaStore
from modelmesh.state.sqlite import SQLiteStateStore
from tests.state import contract

T = TypeVar("T")
INTERVAL_S = 0.02  # the replica's default sync interval: the staleness bound the tests state


def succeed(state: ModelState) -> None:
    """What a success records (``health.record_success``): bookkeeping only."""
    state.requests += 1
    state.consecutive_failures = 0
    state.recent.append(True)
    state.latencies.append(0.01)


def bench(state: ModelState) -> None:
    state.standby_until, state.standby_reason, state.standby_cause = math.inf, "HTTP 401", "status"


class CountingStore:
    """A store that counts the calls reaching it, and can answer slowly (a store under load)."""

    def __init__(self, inner: SQLiteStateStore, delay_s: float = 0.0) -> None:
        self.inner, self.delay_s, self.calls = inner, delay_s, 0

    def _call(self, method: str, *args: Any) -> Any:
        self.calls += 1
        time.sleep(self.delay_s)
        return getattr(self.inner, method)(*args)

    def read_models(self, keys: Sequence[str]) -> dict[str, ModelState]:
        return self._call("read_models", keys)  # type: ignore[no-any-return]

    def update_model(self, key: str, fn: Callable[[ModelState], T]) -> T:
        return self._call("update_model", key, fn)  # type: ignore[no-any-return]

    def read_provider(self, name: str) -> Any:
        return self._call("read_provider", name)

    def update_provider(self, name: str, fn: Callable[[Any], T]) -> T:
        return self._call("update_provider", name, fn)  # type: ignore[no-any-return]

    def read_pool(self, name: str) -> Any:
        return self._call("read_pool", name)

    def update_pool(self, name: str, fn: Callable[[Any], T]) -> T:
        return self._call("update_pool", name, fn)  # type: ignore[no-any-return]

    def read_session(self, pool: str, session: str, now: float) -> SessionBinding | None:
        return self._call("read_session", pool, session, now)  # type: ignore[no-any-return]

    def write_session(self, pool: str, session: str, binding: SessionBinding, now: float) -> None:
        self._call("write_session", pool, session, binding, now)

    def changes(self, since: int | None) -> tuple[int, list[Change]]:
        return self._call("changes", since)  # type: ignore[no-any-return]

    def apply_batch(self, ops: Sequence[Op]) -> list[Change]:
        return self._call("apply_batch", ops)  # type: ignore[no-any-return]

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite3"


@pytest.fixture
def replicas() -> Iterator[list[ReplicaStore]]:
    made: list[ReplicaStore] = []
    yield made
    for replica in made:
        replica.close()


def replica_of(store: Any, made: list[ReplicaStore], interval_s: float = INTERVAL_S) -> ReplicaStore:
    replica = ReplicaStore(store, sync_interval_s=interval_s)
    made.append(replica)
    return replica


@pytest.mark.parametrize(
    "check",
    [
        contract.check_round_trip,
        contract.check_threads_lose_no_updates,
        contract.check_failed_update_changes_nothing,
    ],
)
def test_the_replica_keeps_the_store_contract(
    check: Callable[[Any], None], db: Path, replicas: list[ReplicaStore]
) -> None:
    check(replica_of(SQLiteStateStore(path=db), replicas))


def test_a_success_is_written_behind_and_merged_in_one_batch(db: Path, replicas: list[ReplicaStore]) -> None:
    store = CountingStore(SQLiteStateStore(path=db))
    replica = replica_of(store, replicas, interval_s=3600)  # the test syncs by hand
    other = SQLiteStateStore(path=db)
    store.calls = 0
    for _ in range(50):
        replica.update_model("openai.gpt", succeed)
    assert replica.read_models(["openai.gpt"])["openai.gpt"].requests == 50  # this process sees it now
    assert store.calls == 0  # ... and the store has not been asked anything
    assert other.read_models(["openai.gpt"])["openai.gpt"].requests == 0
    replica.sync()
    assert store.calls == 2  # one batch (one transaction) and one look for others' changes
    stored = other.read_models(["openai.gpt"])["openai.gpt"]
    assert stored.requests == 50 and stored.recent == [True] * 50
    other.close()


def test_a_routing_change_is_in_the_store_when_a_blocking_caller_returns(
    db: Path, replicas: list[ReplicaStore]
) -> None:
    replica = replica_of(SQLiteStateStore(path=db), replicas, interval_s=3600)
    other = SQLiteStateStore(path=db)
    replica.update_provider("openai", lambda s: setattr(s, "disabled_until", math.inf))
    replica.update_model("openai.gpt", bench)
    assert not other.read_provider("openai").is_active(now=0)
    assert not other.read_models(["openai.gpt"])["openai.gpt"].is_active(now=0)
    other.close()


def test_another_process_change_reaches_the_replica_within_the_sync_interval(
    db: Path, replicas: list[ReplicaStore]
) -> None:
    replica = replica_of(SQLiteStateStore(path=db), replicas)
    other = SQLiteStateStore(path=db)
    written = time.monotonic()
    other.update_provider("openai", lambda s: setattr(s, "disabled_until", math.inf))
    while replica.read_provider("openai").is_active(now=0):
        # The bound is one interval plus scheduling; 50 intervals leave a loaded machine room.
        assert time.monotonic() - written < 50 * INTERVAL_S, "the replica never pulled the change"
        time.sleep(INTERVAL_S / 4)
    other.close()


def test_a_deferred_success_never_lifts_a_standby_another_process_set(
    db: Path, replicas: list[ReplicaStore]
) -> None:
    replica = replica_of(SQLiteStateStore(path=db), replicas, interval_s=3600)
    other = SQLiteStateStore(path=db)
    replica.update_model("openai.gpt", lambda s: setattr(s, "consecutive_failures", 0))
    replica.update_model("openai.gpt", succeed)  # queued: the model looked healthy here
    other.update_model("openai.gpt", bench)  # meanwhile another process benched it
    replica.sync()
    for state in (
        other.read_models(["openai.gpt"])["openai.gpt"],
        replica.read_models(["openai.gpt"])["openai.gpt"],
    ):
        assert not state.is_active(now=0) and state.standby_reason == "HTTP 401"
        assert state.requests == 1  # the success still counts
    other.close()


def test_two_replicas_lose_no_failure_and_no_success(db: Path, replicas: list[ReplicaStore]) -> None:
    first = replica_of(SQLiteStateStore(path=db), replicas)
    second = replica_of(SQLiteStateStore(path=db), replicas)
    for _ in range(100):
        for replica in (first, second):
            replica.update_model("p.m", contract.increment_failures)
            replica.update_model("p.m", succeed)
    first.sync()
    second.sync()
    first.sync()
    for replica in (first, second):
        state = replica.read_models(["p.m"])["p.m"]
        assert (state.failures, state.requests) == (200, 200)


def test_a_session_bound_in_one_replica_is_seen_by_the_other(db: Path, replicas: list[ReplicaStore]) -> None:
    first = replica_of(SQLiteStateStore(path=db), replicas, interval_s=3600)
    second = replica_of(SQLiteStateStore(path=db), replicas, interval_s=3600)
    first.write_session("chat", "abc123", SessionBinding("openai.gpt", 2e9), now=1.0)
    second.sync()
    assert second.read_session("chat", "abc123", now=2.0) == SessionBinding("openai.gpt", 2e9)


async def test_on_an_event_loop_a_routing_change_never_waits_for_the_store(
    db: Path, replicas: list[ReplicaStore]
) -> None:
    slow = CountingStore(SQLiteStateStore(path=db), delay_s=0.2)
    replica = replica_of(slow, replicas)
    started = time.monotonic()
    replica.update_model("openai.gpt", bench)
    replica.update_model("openai.gpt", succeed)
    assert time.monotonic() - started < 0.2  # the slow store was not waited for
    assert not replica.read_models(["openai.gpt"])["openai.gpt"].is_active(now=0)
    other = SQLiteStateStore(path=db)
    deadline = time.monotonic() + 5
    while other.read_models(["openai.gpt"])["openai.gpt"].is_active(now=0):
        assert time.monotonic() < deadline, "the sync thread never wrote the standby"
        await asyncio.sleep(0.02)
    other.close()


def test_a_file_from_before_versions_gets_them(db: Path, replicas: list[ReplicaStore]) -> None:
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE TABLE modelmesh_state (prefix TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, "
        "value TEXT NOT NULL, PRIMARY KEY (prefix, kind, name)) WITHOUT ROWID"
    )
    conn.execute(
        """INSERT INTO modelmesh_state VALUES ('modelmesh', 'provider', 'openai', '{"reason": "old"}')"""
    )
    conn.commit()
    conn.close()
    replica = replica_of(SQLiteStateStore(path=db), replicas)
    assert replica.read_provider("openai").reason == "old"
    replica.update_provider("openai", lambda s: setattr(s, "reason", "new"))
    assert SQLiteStateStore(path=db).read_provider("openai").reason == "new"


def test_a_store_that_cannot_list_its_changes_is_refused() -> None:
    from modelmesh.state.memory import MemoryStateStore

    with pytest.raises(TypeError, match="cannot list its changes"):
        ReplicaStore(MemoryStateStore())


@pytest.mark.parametrize("size", [1, 64])
def test_a_successful_request_calls_no_store_whatever_the_pool_size(
    size: int, tmp_path: Path, openai_fake: Any
) -> None:
    from modelmesh import create

    openai_fake.reset()
    ids = ["gpt-4o"] + [f"gpt-4o-extra-{i}" for i in range(size - 1)]
    client = create(
        config={
            "providers": {
                "openai": {"api_key": openai_fake.api_key, "base_url": openai_fake.base_url, "models": ids}
            },
            "pools": {"chat-completion": {"capability": "chat-completion"}},
            "storage": {"store": "sqlite", "path": str(tmp_path / "state.sqlite3")},
        }
    )
    replica = client.mesh.store
    assert isinstance(replica, ReplicaStore) and not client.mesh.store_blocks
    replica.sync_interval_s = 3600  # the sync thread, after its current wait, stays out of the count
    time.sleep(5 * INTERVAL_S)
    hello = [{"role": "user", "content": "Hello!"}]
    client.chat.completions.create(model="chat-completion", messages=hello)  # warm: the current model is set
    calls: list[str] = []
    guard: Any = replica.inner
    forward = guard._call
    guard._call = lambda method, *args: (calls.append(method), forward(method, *args))[1]
    for _ in range(5):
        client.chat.completions.create(model="chat-completion", messages=hello)
    assert calls == []  # reads from the replica, the successes queued
    replica.sync()
    assert calls == ["apply_batch", "changes"]  # five successes: one batch
    assert replica.read_models(["openai.gpt-4o"])["openai.gpt-4o"].requests == 6
    replica.close()
