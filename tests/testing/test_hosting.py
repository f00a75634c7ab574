"""Starting and stopping the servers: speed, ports, sockets, threads."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import httpx2
import openai
import pytest

from modelmesh.testing import FakeProvider
from modelmesh.testing.hosting import ServerThread

START_BUDGET_S = 0.1


def fake_threads(name: str) -> list[threading.Thread]:
    """Server threads of the fakes called ``name`` (other tests' session fakes may be running too)."""
    return [t for t in threading.enumerate() if t.name == f"modelmesh-fake-{name}"]


def test_warm_start_is_under_100_ms() -> None:
    FakeProvider(name="warm-up").start().stop()  # first start pays the imports
    timings = []
    for i in range(5):
        started = time.perf_counter()
        provider = FakeProvider(name=f"t{i}").start()
        timings.append(time.perf_counter() - started)
        provider.stop()
    assert min(timings) < START_BUDGET_S
    assert sorted(timings)[2] < START_BUDGET_S


def test_stop_frees_the_port_and_ends_the_thread() -> None:
    provider = FakeProvider(name="porty").start()
    port = provider.port
    assert port is not None
    assert httpx2.get(
        f"{provider.base_url}/models", headers={"authorization": "Bearer sk-test-porty"}
    ).is_success
    provider.stop()
    assert not fake_threads("porty")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # would raise if the fake still held it
    with pytest.raises(httpx2.ConnectError):
        httpx2.get(f"http://127.0.0.1:{port}/v1/models")


def test_start_and_stop_are_idempotent() -> None:
    provider = FakeProvider(name="twice")
    provider.start()
    port = provider.port
    provider.start()
    assert provider.port == port
    provider.stop()
    provider.stop()
    assert not provider.is_running


def test_a_stopped_provider_can_start_again() -> None:
    provider = FakeProvider(name="again")
    with provider:
        first = provider.port
    with provider:
        headers = {"authorization": f"Bearer {provider.api_key}"}
        assert httpx2.get(f"{provider.base_url}/models", headers=headers).is_success
    assert first is not None


def test_servers_run_in_daemon_threads_named_after_the_provider() -> None:
    with FakeProvider(name="named"):
        (thread,) = fake_threads("named")
        assert thread.daemon
        assert thread.name == "modelmesh-fake-named"


def test_keep_alive_connections_are_closed_on_stop() -> None:
    provider = FakeProvider(name="keep").start()
    headers = {"authorization": f"Bearer {provider.api_key}"}
    with httpx2.Client(headers=headers) as http:
        assert http.get(f"{provider.base_url}/models").is_success
        provider.stop()
        with pytest.raises(httpx2.TransportError):
            http.get(f"{provider.base_url}/models")


def test_abort_without_a_server_is_a_no_op() -> None:
    ServerThread(app=None, name="idle").abort({"client": ("127.0.0.1", 1)})
    ServerThread(app=None, name="idle").stop()


FORGETFUL = """
import httpx2
import openai
from modelmesh.testing import FakeProvider
fp = FakeProvider(name="forgotten").start()
assert httpx2.get(fp.base_url + "/models", headers={"authorization": "Bearer " + fp.api_key}).is_success
"""


def test_a_forgotten_server_is_stopped_cleanly_at_exit() -> None:
    command = [sys.executable, "-X", "dev", "-W", "error", "-c", FORGETFUL]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_whole_answers_are_not_held_back_by_nagle(client: openai.OpenAI) -> None:
    client.chat.completions.create(model="alpha-small", messages=[{"role": "user", "content": "warm"}])
    started = time.perf_counter()
    for _ in range(10):
        client.chat.completions.create(model="alpha-small", messages=[{"role": "user", "content": "hi"}])
    # With Nagle's algorithm on the server side each answer waits ~40 ms for a delayed ACK.
    assert time.perf_counter() - started < 0.35
