"""Client-chosen session ids (``user``, ``x-session-id``) are untrusted: stored hashed, one record each,
bounded in number and expiring (issue 9, finding 8)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from modelmesh import create
from modelmesh.state import memory
from modelmesh.state.base import SessionBinding, session_key
from modelmesh.state.memory import MemoryStateStore
from modelmesh.testing import FakeProvider

HELLO = [{"role": "user", "content": "Hello!"}]


def test_session_ids_are_hashed_to_a_fixed_length() -> None:
    assert len(session_key("x" * 5000)) == len(session_key("u1")) == 24
    assert session_key("u1") != session_key("u2")


def test_long_session_ids_are_stored_hashed_one_row_each(tmp_path: Path, openai_fake: FakeProvider) -> None:
    openai_fake.reset()
    path = tmp_path / "state.sqlite3"
    provider = {
        "api_key": openai_fake.api_key,
        "base_url": openai_fake.base_url,
        "models": ["gpt-4o", "gpt-4o-mini"],
    }
    config: dict[str, Any] = {
        "providers": {"openai": provider},
        "pools": {"chat-completion": {"capability": "chat-completion", "strategy": "session-stickiness"}},
        "storage": {"store": "modelmesh.sqlite.v1", "path": str(path)},
    }
    client = create(config=config)
    ids = [f"session-{i:04d}-" + "x" * 2000 for i in range(150)]
    for user in ids:
        client.chat.completions.create(model="chat-completion", messages=HELLO, user=user)
    client.close()
    rows = sqlite3.connect(path).execute("SELECT kind, name, value FROM modelmesh_state").fetchall()
    sessions = [name for kind, name, _ in rows if kind == "session"]
    pool_record = next(value for kind, name, value in rows if kind == "pool" and name == "chat-completion")
    assert len(sessions) == 150 and all(len(name) < 64 for name in sessions)
    assert len(pool_record) < 200  # no session lives in the pool's record
    assert b"x" * 100 not in path.read_bytes() + Path(f"{path}-wal").read_bytes()


def test_a_repeat_request_does_not_rewrite_its_binding() -> None:
    store = MemoryStateStore()
    writes: list[str] = []
    original = store.write_session

    def counting(pool: str, session: str, binding: SessionBinding, now: float) -> None:
        writes.append(session)
        original(pool, session, binding, now)

    store.write_session = counting  # type: ignore[method-assign]
    from modelmesh.routing.policies import SessionStickinessPolicy
    from modelmesh.routing.run import RoutingRun
    from tests.routing.conftest import chat_request, drive, make_env, make_pool, model

    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models, strategy="session-stickiness")
    env.store = store
    assert isinstance(pool.policy, SessionStickinessPolicy)
    for _ in range(5):
        drive(RoutingRun(env, pool, chat_request(), session_key("u1")), env, {})
    assert writes == [session_key("u1")]  # bound once; later requests only read


def test_the_in_process_store_keeps_a_bounded_number_of_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memory, "MAX_SESSIONS", 10)
    store = MemoryStateStore()
    for i in range(50):
        store.write_session("chat", f"s{i}", SessionBinding("a.a", 1e12), now=0.0)
    assert store.read_session("chat", "s0", now=0.0) is None  # the oldest went first
    assert store.read_session("chat", "s49", now=0.0) is not None
    assert len(store._sessions) == 10
