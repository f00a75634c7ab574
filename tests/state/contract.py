"""Behaviour every state store shares, written once and run against each store by its test module."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from pathlib import Path

from modelmesh.state.base import ModelState, PoolState, ProviderState, SessionBinding, StateStore

REPO = Path(__file__).resolve().parents[2]
THREADS = 8
UPDATES_PER_THREAD = 200


def increment_failures(state: ModelState) -> int:
    state.failures += 1
    return state.failures


def advance_cursor(state: PoolState) -> int:
    state.cursor += 1
    return state.cursor - 1


def check_round_trip(store: StateStore) -> None:
    """Every field of every record comes back as it was written; absent records read as defaults."""

    def deactivate(state: ModelState) -> str:
        state.standby_until, state.standby_reason = math.inf, "manual rotation"
        state.recent.extend([True, False])
        state.latencies.append(0.25)
        state.ratelimit_remaining_requests = 7
        return "done"

    assert store.update_model("openai.gpt", deactivate) == "done"
    model = store.read_models(["openai.gpt", "openai.absent"])
    assert model["openai.gpt"].standby_until == math.inf
    assert model["openai.gpt"].standby_reason == "manual rotation"
    assert model["openai.gpt"].recent == [True, False]
    assert model["openai.gpt"].latencies == [0.25]
    assert model["openai.gpt"].ratelimit_remaining_requests == 7
    assert not model["openai.gpt"].is_active(now=1e12)
    assert model["openai.absent"] == ModelState()

    store.update_provider("openai", lambda s: setattr(s, "disabled_until", 123.5))
    assert store.read_provider("openai").disabled_until == 123.5
    assert store.read_provider("anthropic") == ProviderState()

    store.update_pool("chat", lambda state: setattr(state, "current", "openai.gpt"))
    assert store.read_pool("chat").current == "openai.gpt"
    assert store.read_pool("other") == PoolState()
    check_sessions(store)


def check_sessions(store: StateStore) -> None:
    """Session bindings are records of their own: each write touches one, and expired ones read as None."""
    store.write_session("chat", "s1", SessionBinding("openai.gpt", 99.0), now=10.0)
    store.write_session("chat", "s2", SessionBinding("anthropic.claude", 20.0), now=10.0)
    assert store.read_session("chat", "s1", now=50.0) == SessionBinding("openai.gpt", 99.0)
    assert store.read_session("chat", "s2", now=15.0) == SessionBinding("anthropic.claude", 20.0)
    assert store.read_session("chat", "s2", now=21.0) is None  # expired
    assert store.read_session("other", "s1", now=50.0) is None  # per pool
    assert store.read_pool("chat").current == "openai.gpt"  # sessions do not live in the pool record


def check_threads_lose_no_updates(store: StateStore) -> None:
    """8 threads x 200 updates: every failure increment lands and every cursor value is handed out once."""
    cursors: list[int] = []
    lock = threading.Lock()
    start = threading.Barrier(THREADS)

    def work() -> None:
        start.wait()
        mine = []
        for _ in range(UPDATES_PER_THREAD):
            store.update_model("p.m", increment_failures)
            mine.append(store.update_pool("chat", advance_cursor))
        with lock:
            cursors.extend(mine)

    threads = [threading.Thread(target=work) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = THREADS * UPDATES_PER_THREAD
    assert store.read_models(["p.m"])["p.m"].failures == total
    assert store.read_pool("chat").cursor == total
    assert sorted(cursors) == list(range(total))


def check_failed_update_changes_nothing(store: StateStore) -> None:
    """``fn`` raising leaves the record as it was and the store usable."""
    store.update_model("p.m", increment_failures)

    def explode(state: ModelState) -> None:
        state.failures = 1000
        raise ValueError("boom")

    try:
        store.update_model("p.m", explode)
    except ValueError:
        pass
    else:  # pragma: no cover
        raise AssertionError("update_model swallowed the exception")
    assert store.update_model("p.m", increment_failures) == 2


def run_with_second_process(store: StateStore, kind: str, target: str, prefix: str, count: int = 400) -> None:
    """This process and ``tests.state.worker`` in another one update the same records at the same time."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "tests.state.worker", kind, target, prefix, str(count)]
    with subprocess.Popen(
        command, cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as worker:
        assert worker.stdin is not None and worker.stdout is not None
        assert worker.stdout.readline().strip() == "ready"
        worker.stdin.write("go\n")
        worker.stdin.flush()
        mine = []
        for _ in range(count):
            store.update_model("p.m", increment_failures)
            mine.append(store.update_pool("chat", advance_cursor))
        theirs = [int(line) for line in worker.stdout]
        assert worker.wait(timeout=30) == 0
    assert store.read_models(["p.m"])["p.m"].failures == 2 * count
    assert sorted(mine + theirs) == list(range(2 * count))
