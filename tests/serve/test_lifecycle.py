"""``modelmesh serve`` as a process (issue 11, #4): SIGTERM/SIGINT drain in-flight streams, then exit 0.

The proxy runs as ``python -m modelmesh.cli serve`` over the in-test fake providers, as an operator runs
it; its stderr is checked for tracebacks and for what the access log prints.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from modelmesh.testing import FakeProvider, Fault
from tests.serve.conftest import HELLO, mesh_config

CANARY = "canary-key-in-url-987654"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    def __init__(self, config: Path, *options: str) -> None:
        self.port = free_port()
        argv = [
            sys.executable,
            "-m",
            "modelmesh.cli",
            "serve",
            "--config",
            str(config),
            "--port",
            str(self.port),
        ]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        env.pop("MODELMESH_PROXY_KEY", None)
        self.proc = subprocess.Popen([*argv, *options], stderr=subprocess.PIPE, text=True, env=env)
        self.origin = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 20
        while True:
            assert self.proc.poll() is None, self.proc.communicate()[1]
            try:
                if httpx2.get(f"{self.origin}/health/live", timeout=1).status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            assert time.monotonic() < deadline, "modelmesh serve did not start"
            time.sleep(0.1)

    def stop(self, sig: int) -> tuple[int, str]:
        self.proc.send_signal(sig)
        _, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, err


@pytest.fixture
def config_file(fakes: tuple[FakeProvider, FakeProvider], tmp_path: Path) -> Path:
    config = mesh_config(*fakes)
    # Longer than the 1.5 s stall below: only a shutdown that does not drain could end the stream early.
    config["pools"]["chat-completion"]["timeouts"] = {"read_s": 10, "stall_s": 10, "total_s": 20}
    path = tmp_path / "mesh.json"
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def process(config_file: Path) -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for proc in started:
        if proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.communicate()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_lets_the_stream_finish_and_exits_0(
    sig: int, config_file: Path, process: list[ServeProcess], fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    fakes[0].set_outage(Fault.stall(after_events=2, seconds=1.5))
    server = ServeProcess(config_file, "--grace", "10")
    process.append(server)
    body = {"model": "chat-completion", "messages": HELLO, "stream": True}
    url = f"{server.origin}/v1/chat/completions"
    with httpx2.Client(timeout=10) as http, http.stream("POST", url, json=body) as reply:
        chunks = reply.iter_bytes()
        received = next(chunks)  # the stream has begun; the provider now stalls for 1.5 s
        server.proc.send_signal(sig)
        received += b"".join(chunks)
    assert b"data: [DONE]" in received and b'"finish_reason":"stop"' in received.replace(b" ", b"")
    _, err = server.proc.communicate(timeout=20)  # one signal only: a second one forces the exit
    assert server.proc.returncode == 0, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert "finishing requests in flight" in err


def test_the_process_log_shows_paths_never_query_strings(
    config_file: Path, process: list[ServeProcess]
) -> None:
    server = ServeProcess(config_file)
    process.append(server)
    assert httpx2.get(f"{server.origin}/v1/models?api_key={CANARY}").status_code == 401
    assert httpx2.get(f"{server.origin}/v1/models?after=abc").status_code == 200
    code, err = server.stop(signal.SIGTERM)
    assert code == 0
    assert '"GET /v1/models" 401' in err and '"GET /v1/models" 200' in err
    assert CANARY not in err and "after=abc" not in err


def test_a_stop_before_any_request_is_a_clean_exit(config_file: Path, process: list[ServeProcess]) -> None:
    server = ServeProcess(config_file, "--access-log", "json")
    process.append(server)
    code, err = server.stop(signal.SIGINT)
    assert code == 0 and "Traceback" not in err


@pytest.mark.parametrize(("grace", "signals"), [("30", 2), ("1", 1)], ids=["second-signal", "grace-over"])
def test_a_forced_or_overdue_exit_cuts_the_stream_without_a_traceback(
    grace: str,
    signals: int,
    config_file: Path,
    process: list[ServeProcess],
    fakes: tuple[FakeProvider, FakeProvider],
) -> None:
    fakes[0].set_outage(Fault.stall(after_events=2, seconds=8))
    server = ServeProcess(config_file, "--grace", grace)
    process.append(server)
    body = {"model": "chat-completion", "messages": HELLO, "stream": True}
    url = f"{server.origin}/v1/chat/completions"
    rest = b""
    with httpx2.Client(timeout=10) as http, http.stream("POST", url, json=body) as reply:
        chunks = reply.iter_bytes()
        next(chunks)  # in flight, now stalled for 8 s
        started = time.monotonic()
        server.proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        if signals == 2:
            server.proc.send_signal(signal.SIGINT)  # Ctrl-C again: do not wait for the stream
        _, err = server.proc.communicate(timeout=20)
        elapsed = time.monotonic() - started
        with contextlib.suppress(httpx2.HTTPError):
            rest = b"".join(chunks)
    assert b"[DONE]" not in rest and elapsed < 5, "the stream was not cut off"
    assert server.proc.returncode == 0, err
    assert "Traceback" not in err and "CancelledError" not in err, err
    assert '"POST /v1/chat/completions" cut off by the shutdown' in err
