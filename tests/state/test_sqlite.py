"""The SQLite store against a real file: sharing, persistence, threads and a second process."""

from __future__ import annotations

import math
import sqlite3
import threading
from pathlib import Path

import pytest

from modelmesh.state.base import SessionBinding
from modelmesh.state.sqlite import DEFAULT_PATH, SQLiteStateStore
from tests.state import contract


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.sqlite3"


def test_sqlite_store_round_trips_every_record(db: Path) -> None:
    store = SQLiteStateStore(path=db)
    contract.check_round_trip(store)
    store.close()


def test_two_stores_on_one_file_see_each_others_updates(db: Path) -> None:
    first, second = SQLiteStateStore(path=db), SQLiteStateStore(path=db)
    first.update_model("openai.gpt", lambda s: setattr(s, "standby_until", math.inf))
    assert not second.read_models(["openai.gpt"])["openai.gpt"].is_active(now=0)
    second.update_provider("openai", lambda s: setattr(s, "reason", "HTTP 401"))
    assert first.read_provider("openai").reason == "HTTP 401"
    first.close()
    second.close()


def test_state_survives_closing_and_reopening_the_file(db: Path) -> None:
    store = SQLiteStateStore(path=db, prefix="mesh")

    def fail(state: contract.ModelState) -> None:
        state.consecutive_failures, state.failures = 3, 5
        state.standby_until, state.standby_reason = 1_900_000_000.0, "3 consecutive failures"

    store.update_model("openai.gpt", fail)
    store.update_provider("anthropic", lambda s: setattr(s, "disabled_until", math.inf))
    store.update_pool("chat", contract.advance_cursor)
    store.write_session("chat", "user-1", SessionBinding("openai.gpt", 1_900_000_000.0), now=0.0)
    store.close()

    reopened = SQLiteStateStore(path=db, prefix="mesh")
    model = reopened.read_models(["openai.gpt"])["openai.gpt"]
    assert (model.consecutive_failures, model.failures) == (3, 5)
    assert model.standby_until == 1_900_000_000.0
    assert model.standby_reason == "3 consecutive failures"
    assert reopened.read_provider("anthropic").disabled_until == math.inf
    pool = reopened.read_pool("chat")
    assert pool.cursor == 1
    assert reopened.read_session("chat", "user-1", now=0.0) == SessionBinding("openai.gpt", 1_900_000_000.0)
    reopened.close()


def test_prefixes_keep_two_meshes_apart_in_one_file(db: Path) -> None:
    one, two = SQLiteStateStore(path=db, prefix="one"), SQLiteStateStore(path=db, prefix="two")
    one.update_pool("chat", contract.advance_cursor)
    assert two.read_pool("chat").cursor == 0
    one.close()
    two.close()


def test_eight_threads_lose_no_updates(db: Path) -> None:
    store = SQLiteStateStore(path=db)
    contract.check_threads_lose_no_updates(store)
    store.close()


def test_a_second_process_updating_concurrently_loses_no_updates(db: Path) -> None:
    store = SQLiteStateStore(path=db, prefix="shared")
    contract.run_with_second_process(store, "sqlite", str(db), "shared")
    store.close()


def test_a_failed_update_is_rolled_back(db: Path) -> None:
    store = SQLiteStateStore(path=db)
    contract.check_failed_update_changes_nothing(store)
    store.close()


def test_the_file_is_in_wal_mode(db: Path) -> None:
    SQLiteStateStore(path=db).close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_default_path_and_unknown_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = SQLiteStateStore(prefix="mesh", url="redis://ignored", colour="blue")
    store.update_pool("chat", contract.advance_cursor)
    store.close()
    assert (tmp_path / DEFAULT_PATH).exists()


def test_parent_directories_are_created(tmp_path: Path) -> None:
    store = SQLiteStateStore(path=tmp_path / "nested" / "dir" / "state.db")
    store.close()
    assert (tmp_path / "nested" / "dir" / "state.db").exists()


def test_reading_many_models_at_once(db: Path) -> None:
    store = SQLiteStateStore(path=db)
    keys = [f"p.m{i}" for i in range(1200)]
    store.update_model("p.m1100", contract.increment_failures)
    states = store.read_models(keys)
    assert len(states) == 1200
    assert states["p.m1100"].failures == 1
    store.close()


def test_a_closed_store_refuses_work_in_every_thread(db: Path) -> None:
    store = SQLiteStateStore(path=db)
    store.read_pool("chat")
    store.close()
    with pytest.raises(sqlite3.ProgrammingError):
        store.read_pool("chat")
    errors: list[BaseException] = []

    def other_thread() -> None:
        try:
            store.read_pool("chat")
        except sqlite3.ProgrammingError as exc:
            errors.append(exc)

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert len(errors) == 1


def test_the_registry_builds_the_store_as_the_builder_does(db: Path) -> None:
    from modelmesh.registry import STATE_STORES

    store = STATE_STORES.get("modelmesh.sqlite.v1")(prefix="mesh", path=str(db))
    assert isinstance(store, SQLiteStateStore)
    assert repr(store) == f"SQLiteStateStore(path={str(db)!r}, prefix='mesh')"
    store.close()
