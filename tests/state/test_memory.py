"""The in-process store: the shared contract, and no lost updates between threads."""

from __future__ import annotations

import asyncio

from modelmesh.state.memory import MemoryStateStore
from tests.state import contract


def test_memory_store_round_trips_every_record() -> None:
    contract.check_round_trip(MemoryStateStore())


def test_memory_store_loses_no_updates_between_threads() -> None:
    contract.check_threads_lose_no_updates(MemoryStateStore())


async def test_memory_store_loses_no_updates_between_asyncio_tasks() -> None:
    store = MemoryStateStore()
    cursors = await asyncio.gather(
        *(asyncio.to_thread(store.update_pool, "chat", contract.advance_cursor) for _ in range(256))
    )
    assert sorted(cursors) == list(range(256))


def test_memory_store_returns_what_fn_returns_and_ignores_unknown_options() -> None:
    store = MemoryStateStore(prefix="x", path="ignored", url="redis://nowhere")
    assert store.update_model("p.m", contract.increment_failures) == 1
    assert store.update_model("p.m", contract.increment_failures) == 2
    store.close()
