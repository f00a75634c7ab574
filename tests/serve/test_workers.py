"""``modelmesh serve`` on shared state (issue 11, #3): ``--workers N`` and replicas on one Redis.

Every proxy here is a real ``python -m modelmesh.cli serve`` process over the in-test fake providers;
the workers' pids come from the status JSON, and provider health crosses processes only through the
configured store (SQLite for the workers, a real ``redis-server`` for the replicas).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx2
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelmesh.serve.runner import listening_socket
from modelmesh.testing import FakeProvider, Fault
from tests.serve.conftest import HELLO, mesh_config
from tests.serve.test_lifecycle import ServeProcess, free_port
from tests.state.conftest import RedisServer, prefix, redis_binary, redis_server  # noqa: F401

CHAT = {"model": "chat-completion", "messages": HELLO}


@pytest.fixture
def process() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for server in started:
        if server.proc.poll() is None:
            server.proc.terminate()  # the supervisor stops its workers, which hold stderr open too
            try:
                server.proc.communicate(timeout=20)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.communicate()


def write_config(tmp_path: Path, fakes: tuple[FakeProvider, FakeProvider], storage: dict[str, Any]) -> Path:
    config = mesh_config(*fakes, storage=storage)
    # Longer than the stall below: only a shutdown that does not drain could end the stream early.
    config["pools"]["chat-completion"]["timeouts"] = {"read_s": 10, "stall_s": 10, "total_s": 20}
    path = tmp_path / "mesh.json"
    path.write_text(json.dumps(config))
    return path


def worker_pids(origin: str, tries: int = 60) -> set[int]:
    """Pids of the workers answering fresh connections (the kernel hands each to one of them)."""
    pids: set[int] = set()
    for _ in range(tries):
        with httpx2.Client(timeout=5) as http:  # a new connection each time
            pids.add(http.get(f"{origin}/ui/status.json").json()["worker_pid"])
        if len(pids) > 1:
            break
    return pids


def test_two_workers_on_sqlite_both_serve_and_drain_on_sigterm(
    tmp_path: Path, fakes: tuple[FakeProvider, FakeProvider], process: list[ServeProcess]
) -> None:
    config = write_config(tmp_path, fakes, {"store": "sqlite", "path": str(tmp_path / "state.sqlite3")})
    server = ServeProcess(config, "--workers", "2", "--grace", "10", "--header-timeout", "1")
    process.append(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=2.5) as silent:
        silent.sendall(b"GET /health/live HTTP/1.1\r\n")  # and never the rest of the head
        assert silent.recv(100) == b""  # the workers keep the head deadline: closed after 1 s
    for _ in range(4):
        reply = httpx2.post(f"{server.origin}/v1/chat/completions", json=CHAT, timeout=10)
        assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"]
    pids = worker_pids(server.origin)
    assert len(pids) == 2 and server.proc.pid not in pids

    fakes[0].set_outage(Fault.stall(after_events=2, seconds=1.5))
    url = f"{server.origin}/v1/chat/completions"
    with httpx2.Client(timeout=10) as http, http.stream("POST", url, json={**CHAT, "stream": True}) as reply:
        chunks = reply.iter_bytes()
        received = next(chunks)  # in flight in one worker; the provider now stalls for 1.5 s
        server.proc.send_signal(signal.SIGTERM)
        received += b"".join(chunks)
    assert b"data: [DONE]" in received
    _, err = server.proc.communicate(timeout=30)
    assert server.proc.returncode == 0, err
    assert "Traceback" not in err, err
    assert err.count('"POST /v1/chat/completions" 200') == 5  # each worker writes the access log


def test_metrics_of_two_workers_are_summed_whichever_worker_is_scraped(
    tmp_path: Path,
    fakes: tuple[FakeProvider, FakeProvider],
    process: list[ServeProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = write_config(tmp_path, fakes, {"store": "sqlite", "path": str(tmp_path / "state.sqlite3")})
    temp = tmp_path / "tmp"  # the proxy's own temporary directory: other tests' runs make theirs elsewhere
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    before = metrics_dirs(temp)
    server = ServeProcess(config, "--workers", "2")
    process.append(server)
    assert len(metrics_dirs(temp) - before) == 1  # the supervisor made one for this run
    assert len(worker_pids(server.origin)) == 2  # both workers are up before the load

    def ask(_: int) -> int:
        with httpx2.Client(timeout=10) as http:  # a new connection each time: the kernel spreads them
            return http.post(f"{server.origin}/v1/chat/completions", json=CHAT).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(ask, range(40))) == [200] * 40
    answered = answers_per_worker(server.origin)
    assert len(answered) == 2 and all(answered.values()), answered  # each worker answered some
    assert sum(answered.values()) == 40

    def chat_requests() -> tuple[float, float]:
        samples = scrape(server.origin)
        route = (("method", "POST"), ("route", "/v1/chat/completions"), ("status", "200"))
        pool = (("pool", "chat-completion"),)
        return samples[("modelmesh_proxy_requests_total", route)], samples.get(
            ("modelmesh_pool_answers_total", pool), 0
        )

    deadline = time.monotonic() + 5
    for _ in range(6):  # scrapes on new connections land on either worker
        requests, answers = chat_requests()
        assert requests == 40  # more than either worker counted itself: the sum over both
        while answers != 40:  # tokens and answers: each worker copies its ledger once a second
            assert time.monotonic() < deadline, answers
            time.sleep(0.2)
            answers = chat_requests()[1]
    server.proc.send_signal(signal.SIGTERM)
    _, err = server.proc.communicate(timeout=30)
    assert server.proc.returncode == 0, err
    assert metrics_dirs(temp) <= before  # the run's metrics directory went with it


def openai_active(origin: str) -> bool:
    status = httpx2.get(f"{origin}/ui/status.json", timeout=5).json()
    return next(m["active"] for m in status["pools"][0]["models"] if m["provider"] == "openai")


def metrics_dirs(folder: Path) -> set[Path]:
    return set(folder.glob("modelmesh-metrics-*"))


def answers_per_worker(origin: str) -> dict[int, int]:
    """Each worker's own count of answers (its status page), polled until both workers have spoken."""
    seen: dict[int, int] = {}
    for _ in range(60):
        with httpx2.Client(timeout=5) as http:
            status = http.get(f"{origin}/ui/status.json").json()
        seen[status["worker_pid"]] = status["pools"][0]["usage"]["requests"]
        if len(seen) > 1:
            break
    return seen


def scrape(origin: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with httpx2.Client(timeout=5) as http:
        reply = http.get(f"{origin}/metrics")
    assert reply.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.text)
        for sample in family.samples
    }


def test_the_workers_socket_is_tcp_so_replies_are_not_held_by_nagle() -> None:
    # asyncio sets TCP_NODELAY on accepted connections only for an IPPROTO_TCP listener.
    with listening_socket("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP and sock.get_inheritable()


def test_a_taken_port_is_a_clear_error(tmp_path: Path, fakes: tuple[FakeProvider, FakeProvider]) -> None:
    config = write_config(tmp_path, fakes, {"store": "sqlite", "path": str(tmp_path / "state.sqlite3")})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        argv = [sys.executable, "-m", "modelmesh.cli", "serve", "--config", str(config), "--workers", "2"]
        done = subprocess.run([*argv, "--port", port], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_worker_that_cannot_start_stops_the_proxy_with_an_error(tmp_path: Path) -> None:
    # The CLI builds the mesh once before starting workers; a worker can still fail on its own
    # (here the config is gone), and the supervisor must not then report a clean exit.
    script = (
        "from modelmesh.serve.runner import serve_workers\n"
        "from modelmesh.serve.workers import MeshSource\n"
        f"serve_workers(MeshSource({str(tmp_path / 'gone.json')!r}, ()), 2, port={free_port()})\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "RuntimeError: a worker could not start" in done.stderr
    assert "could not build the mesh: config file" in done.stderr
    assert done.stderr.count("Traceback") == 1, done.stderr  # the script's own, none from the workers


def test_several_workers_refuse_the_in_memory_store(
    tmp_path: Path, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    config = write_config(tmp_path, fakes, {"store": "memory"})
    argv = [sys.executable, "-m", "modelmesh.cli", "serve", "--config", str(config), "--workers", "2"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "--workers 2 needs a shared state store" in done.stderr
    assert "store: sqlite" in done.stderr and "store: redis" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_provider_disabled_through_one_replica_is_skipped_by_the_other(
    tmp_path: Path,
    fakes: tuple[FakeProvider, FakeProvider],
    process: list[ServeProcess],
    redis_server: RedisServer,  # noqa: F811
    prefix: str,  # noqa: F811
) -> None:
    openai_fake = fakes[0]
    config = write_config(tmp_path, fakes, {"store": "redis", "url": redis_server.url, "prefix": prefix})
    first, second = ServeProcess(config), ServeProcess(config)
    process.extend([first, second])

    openai_fake.fail_next(1, Fault.status(401))  # a revoked key: openai is put on standby
    reply = httpx2.post(f"{first.origin}/v1/chat/completions", json=CHAT, timeout=10)
    assert reply.status_code == 200 and reply.headers["x-modelmesh-provider"] == "groq"
    assert openai_fake.calls() == 1

    # openai would answer now (the fault was one-shot): only the shared state can keep it skipped.
    reply = httpx2.post(f"{second.origin}/v1/chat/completions", json=CHAT, timeout=10)
    assert reply.status_code == 200 and reply.headers["x-modelmesh-provider"] == "groq"
    assert openai_fake.calls() == 1
    status = httpx2.get(f"{second.origin}/ui/status.json", timeout=5).json()
    models = {m["provider"]: m for m in status["pools"][0]["models"]}
    assert models["openai"]["active"] is False


def test_a_provider_disabled_through_one_process_on_sqlite_is_skipped_by_the_other(
    tmp_path: Path, fakes: tuple[FakeProvider, FakeProvider], process: list[ServeProcess]
) -> None:
    openai_fake = fakes[0]
    config = write_config(tmp_path, fakes, {"store": "sqlite", "path": str(tmp_path / "state.sqlite3")})
    first, second = ServeProcess(config), ServeProcess(config)
    process.extend([first, second])

    openai_fake.fail_next(1, Fault.status(401))  # a revoked key: openai is put on standby
    reply = httpx2.post(f"{first.origin}/v1/chat/completions", json=CHAT, timeout=10)
    assert reply.status_code == 200 and reply.headers["x-modelmesh-provider"] == "groq"
    # Routing reads a replica (ADR 0006): the writer's sync thread writes the standby at once and the
    # reader pulls every 20 ms, so the bound is about two intervals; 0.25 s allows for a loaded machine.
    written = time.monotonic()
    while openai_active(second.origin):
        assert time.monotonic() - written < 0.25, "the other process did not see the standby in time"
        time.sleep(0.01)
    for _ in range(3):
        reply = httpx2.post(f"{second.origin}/v1/chat/completions", json=CHAT, timeout=10)
        assert reply.status_code == 200 and reply.headers["x-modelmesh-provider"] == "groq"
    assert openai_fake.calls() == 1


def test_ctrl_c_in_a_terminal_stops_every_worker_cleanly(
    tmp_path: Path, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    # A terminal's Ctrl-C reaches the whole process group: workers get SIGINT, then the supervisor's SIGTERM.
    config = write_config(tmp_path, fakes, {"store": "sqlite", "path": str(tmp_path / "state.sqlite3")})
    port = free_port()
    proc = serve_workers(config, port)
    try:
        wait_live(f"http://127.0.0.1:{port}", proc)
        # Both workers up: a Ctrl-C while a worker still imports is Python's own traceback, not the proxy's.
        deadline = time.monotonic() + 30
        while len(worker_pids(f"http://127.0.0.1:{port}")) < 2:
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.2)
        assert httpx2.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT).status_code == 200
    finally:
        err = interrupt(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


def test_ctrl_c_while_the_workers_start_is_a_clean_stop(
    tmp_path: Path, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    config = write_config(tmp_path, fakes, {"store": "sqlite", "path": str(tmp_path / "state.sqlite3")})
    proc = serve_workers(config, free_port())
    seen = []
    try:
        assert proc.stderr is not None
        while not any("Started parent process" in line for line in seen):
            line = proc.stderr.readline()
            assert line, "".join(seen)
            seen.append(line)
        time.sleep(0.3)  # the workers are spawned and still importing (a second or so)
    finally:
        err = "".join(seen) + interrupt(proc)
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err


def serve_workers(config: Path, port: int) -> subprocess.Popen[str]:
    """``modelmesh serve --workers 2`` in its own process group (a terminal's Ctrl-C reaches all of it)."""
    argv = [sys.executable, "-m", "modelmesh.cli", "serve", "--config", str(config), "--workers", "2"]
    return subprocess.Popen(
        [*argv, "--port", str(port)], stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def interrupt(proc: subprocess.Popen[str]) -> str:
    """Ctrl-C to the whole group; its stderr once it exited (killed after 30 s)."""
    try:
        os.killpg(proc.pid, signal.SIGINT)
        return proc.communicate(timeout=30)[1]
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()


def wait_live(origin: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx2.get(f"{origin}/health/live", timeout=1).status_code == 200:
                return
        except httpx2.TransportError:
            pass
        assert time.monotonic() < deadline, "modelmesh serve did not start"
        time.sleep(0.1)
