"""The async client never blocks its event loop on the state store: a store that answers slowly delays
the request, not a concurrent task's timer."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, TypeVar

from modelmesh import create_async
from modelmesh.state.base import ModelState, PoolState, ProviderState, StateStore
from modelmesh.testing import FakeProvider

T = TypeVar("T")
HELLO = [{"role": "user", "content": "Hello!"}]
DELAY_S = 0.05


@contextlib.asynccontextmanager
async def loop_gaps() -> AsyncIterator[list[float]]:
    """The gaps between the ticks of a 5 ms timer running beside the body: a blocked loop is a long gap."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.005)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    try:
        yield gaps
    finally:
        done.set()
        await tick


class SlowStore:
    """Any store, answering every call ``DELAY_S`` late (a remote store under load)."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.calls = 0

    def _slow(self) -> None:
        self.calls += 1
        time.sleep(DELAY_S)

    def read_models(self, keys: Sequence[str]) -> dict[str, ModelState]:
        self._slow()
        return self.inner.read_models(keys)

    def update_model(self, key: str, fn: Callable[[ModelState], T]) -> T:
        self._slow()
        return self.inner.update_model(key, fn)

    def read_provider(self, name: str) -> ProviderState:
        self._slow()
        return self.inner.read_provider(name)

    def update_provider(self, name: str, fn: Callable[[ProviderState], T]) -> T:
        self._slow()
        return self.inner.update_provider(name, fn)

    def read_pool(self, name: str) -> PoolState:
        self._slow()
        return self.inner.read_pool(name)

    def update_pool(self, name: str, fn: Callable[[PoolState], T]) -> T:
        self._slow()
        return self.inner.update_pool(name, fn)

    def close(self) -> None:
        self.inner.close()


async def test_a_slow_store_does_not_stall_a_concurrent_timer(openai_fake: FakeProvider) -> None:
    openai_fake.reset()
    providers = {
        "openai": {"api_key": openai_fake.api_key, "base_url": openai_fake.base_url, "models": ["gpt-4o"]}
    }
    config: dict[str, Any] = {
        "providers": providers,
        "pools": {"chat-completion": {"capability": "chat-completion"}},
    }
    async with create_async(config=config) as client:
        mesh = client.mesh
        slow = SlowStore(mesh.store)
        mesh.store, mesh.store_blocks = slow, True  # type: ignore[assignment]
        async with loop_gaps() as gaps:
            started = time.monotonic()
            for _ in range(3):
                await client.chat.completions.create(model="chat-completion", messages=HELLO)
            elapsed = time.monotonic() - started
    assert slow.calls >= 6 and elapsed >= slow.calls * DELAY_S * 0.9  # the store really was slow
    assert max(gaps) < DELAY_S  # yet the loop never waited for it


def test_replacing_the_store_decides_anew_whether_its_calls_leave_the_loop(tmp_path: Any) -> None:
    from modelmesh.state.memory import MemoryStateStore
    from modelmesh.state.sqlite import SQLiteStateStore

    with FakeProvider(name="openai", models=["gpt-4o-mini"]) as fake:
        config = {
            "providers": {"openai": {"api_key": fake.api_key, "base_url": fake.base_url}},
            "pools": {"chat": {"capability": "chat-completion", "models": ["gpt-4o-mini"]}},
        }
        mesh = create_async("chat", config=config).mesh
    assert not mesh.store_blocks
    mesh.store = SQLiteStateStore(path=str(tmp_path / "state.sqlite3"))
    assert mesh.store_blocks
    mesh.store = MemoryStateStore()
    assert not mesh.store_blocks


class SlowReplicable(SlowStore):
    """A slow store that can list its changes, so the replica can sit on it."""

    def changes(self, since: int | None) -> Any:
        self._slow()
        return self.inner.changes(since)  # type: ignore[attr-defined]


async def test_a_replicated_store_is_not_waited_for_even_when_an_attempt_fails(
    openai_fake: FakeProvider, tmp_path: Any
) -> None:
    """SQLite under the replica (ADR 0006): the engine calls routing on the loop, the replica answers from
    memory, and the failure's routing change is written by the sync thread, never by the loop."""
    from modelmesh.state.replica import ReplicaStore
    from modelmesh.state.sqlite import SQLiteStateStore
    from modelmesh.testing import Fault

    openai_fake.reset()
    providers = {
        "openai": {"api_key": openai_fake.api_key, "base_url": openai_fake.base_url, "models": ["gpt-4o"]}
    }
    config: dict[str, Any] = {
        "providers": providers,
        "pools": {
            "chat-completion": {
                "capability": "chat-completion",
                "retry": {"backoff_base_s": 0, "backoff_max_s": 0},
            }
        },
    }
    async with create_async(config=config) as client:
        mesh = client.mesh
        await client.chat.completions.create(model="chat-completion", messages=HELLO)  # warm: connected
        slow = SlowReplicable(SQLiteStateStore(path=str(tmp_path / "state.sqlite3")))
        mesh.store = ReplicaStore(slow)  # type: ignore[arg-type]
        assert not mesh.store_blocks  # routing calls stay on the loop: the replica never waits
        openai_fake.fail_next(1, Fault.status(500))  # a failure: a routing change, written through
        async with loop_gaps() as gaps:
            for _ in range(3):
                await client.chat.completions.create(model="chat-completion", messages=HELLO)
        mesh.store.sync()  # type: ignore[attr-defined]
        stored = slow.inner.read_models(["openai.gpt-4o"])["openai.gpt-4o"]
        mesh.close()
    assert openai_fake.calls() == 5 and stored.failures == 1 and stored.requests == 4
    assert max(gaps) < DELAY_S  # the loop never waited for the slow store
