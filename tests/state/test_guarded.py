"""Store faults degrade routing to local state; they never fail a request or discard an answer.

Real SQLite files, damaged, made read-only or deleted while a client uses them (issue: the routing
engine, rebuilt, item 7)."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelmesh import create
from modelmesh.state.guarded import GuardedStore
from modelmesh.state.replica import ReplicaStore
from modelmesh.testing import FakeProvider

HELLO = [{"role": "user", "content": "Hello!"}]


def config(path: Path, fake: FakeProvider) -> dict[str, Any]:
    return {
        "providers": {"openai": {"api_key": fake.api_key, "base_url": fake.base_url, "models": ["gpt-4o"]}},
        "pools": {"chat-completion": {"capability": "chat-completion"}},
        "storage": {"store": "modelmesh.sqlite.v1", "path": str(path)},
    }


def ask(client: Any) -> str:
    return str(client.chat.completions.create(model="chat-completion", messages=HELLO).model)


def written(client: Any) -> None:
    """A success is bookkeeping, written behind: the sync thread writes it within ``sync_interval_s``
    (that is when a fault is met); ``sync()`` is that write, now, without sleeping for it."""
    client.mesh.store.sync()


def damage(folder: Path, junk: bytes) -> None:
    """Overwrite every state file with ``junk``; the ``-shm`` index in place, keeping its size.

    SQLite maps the ``-shm`` file into every process that has the database open: shrinking it under a
    live connection is a SIGBUS for any SQLite program (the replica's sync thread touches it every 20 ms).
    Garbage over its bytes is the damage SQLite must notice; a shorter file is a crash no code survives.
    """
    for name in folder.iterdir():
        if name.name.endswith("-shm"):
            with name.open("r+b") as index:
                size = index.seek(0, os.SEEK_END)
                index.seek(0)
                index.write((junk * (size // len(junk) + 1))[:size])
        else:
            name.write_bytes(junk)


def quick(client: Any) -> GuardedStore:
    replica = client.mesh.store
    assert isinstance(replica, ReplicaStore)  # routing reads a replica of the guarded store (ADR 0006)
    store = replica.inner
    assert isinstance(store, GuardedStore)
    store.reconnect_interval_s, store.verify_interval_s = 0.0, 0.0
    store._next_verify = 0.0  # the replica's first read already set it a second ahead
    return store


def test_a_damaged_file_degrades_and_requests_are_answered(
    tmp_path: Path, openai_fake: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "state.sqlite3"
    client = create(config=config(path, openai_fake))
    store = quick(client)
    assert ask(client) == "gpt-4o" and not store.degraded
    damage(tmp_path, b"this is not a database" * 512)
    with caplog.at_level(logging.WARNING, logger="modelmesh.state"):
        answers = [ask(client) for _ in range(3)]
        status = client.pool_status()["chat-completion"]
    client.close()
    assert answers == ["gpt-4o"] * 3
    assert status.state_degraded
    assert sum("routing continues" in r.getMessage() for r in caplog.records) == 1


def test_a_deleted_file_is_noticed_and_processes_converge_on_a_new_one(
    tmp_path: Path, openai_fake: FakeProvider
) -> None:
    path = tmp_path / "state.sqlite3"
    client = create(config=config(path, openai_fake))
    store = quick(client)
    ask(client)
    store.reconnect_interval_s = 3600.0  # stay degraded until the test lets it probe
    for name in tmp_path.iterdir():
        name.unlink()
    assert ask(client) == "gpt-4o"
    written(client)
    assert store.degraded and not path.exists()
    store.reconnect_interval_s = 0.0
    store._next_probe = 0.0
    assert ask(client) == "gpt-4o"
    written(client)  # the probe rides on the next write to the store
    client.close()
    assert not store.degraded and path.exists()  # reopened at the path: other processes see the same file


@contextlib.contextmanager
def read_only(paths: list[Path]) -> Iterator[None]:
    """Files nobody may write, root included (``chattr +i``); a plain chmod for other users."""
    root = os.geteuid() == 0
    if root and shutil.which("chattr") is None:
        pytest.fail("chattr is needed to make a file read-only for root")
    for path in paths:
        if root:
            subprocess.run(["chattr", "+i", str(path)], check=True)
        else:
            path.chmod(0o400)
    try:
        yield
    finally:
        for path in paths:
            if root:
                subprocess.run(["chattr", "-i", str(path)], check=True)
            else:
                path.chmod(0o600)


def test_a_read_only_file_never_costs_an_answer(tmp_path: Path, openai_fake: FakeProvider) -> None:
    path = tmp_path / "state.sqlite3"
    first = create(config=config(path, openai_fake))
    ask(first)
    first.close()
    with read_only([p for p in tmp_path.iterdir()] + [tmp_path]):
        client = create(config=config(path, openai_fake))
        quick(client)
        answers = [ask(client) for _ in range(3)]
        degraded = client.pool_status()["chat-completion"].state_degraded
        client.close()
    assert answers == ["gpt-4o"] * 3
    assert degraded


def test_the_store_is_used_again_once_a_damaged_file_is_replaced(
    tmp_path: Path, openai_fake: FakeProvider
) -> None:
    path = tmp_path / "state.sqlite3"
    client = create(config=config(path, openai_fake))
    store = quick(client)
    ask(client)
    store.reconnect_interval_s = 3600.0
    damage(tmp_path, b"garbage" * 1000)
    ask(client)
    written(client)
    assert store.degraded
    for name in tmp_path.iterdir():  # the operator removes the damaged file
        name.unlink()
    store.reconnect_interval_s, store._next_probe = 0.0, 0.0
    assert ask(client) == "gpt-4o"
    written(client)
    client.close()
    assert not store.degraded
