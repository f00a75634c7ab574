"""The ``fake_provider`` fixture, in this session and in a fresh pytest run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from modelmesh.testing import FakeProvider
from modelmesh.testing.pytest_plugin import FakeProviderFactory

INNER_TESTS = """
import socket
import httpx2

PORTS = []

def test_makes_started_fakes(fake_provider):
    a = fake_provider()
    b = fake_provider(name="b", models=["b1"], dialect="anthropic")
    assert (a.name, b.name, b.dialect) == ("fake-1", "b", "anthropic")
    assert httpx2.get(a.base_url + "/models", headers={"authorization": "Bearer " + a.api_key}).is_success
    PORTS.extend([a.port, b.port])

def test_fakes_were_stopped_after_the_test():
    for port in PORTS:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", port))
"""


def test_fixture_returns_started_fakes(fake_provider: FakeProviderFactory) -> None:
    provider = fake_provider(models=["m"], dialect="anthropic")
    assert isinstance(provider, FakeProvider)
    assert provider.is_running and provider.name == "fake-1"
    assert fake_provider().name == "fake-2"


def test_plugin_loads_and_cleans_up_in_a_fresh_session(tmp_path: Path) -> None:
    (tmp_path / "test_inner.py").write_text(INNER_TESTS)
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    command = [sys.executable, "-m", "pytest", "-q", "-p", "modelmesh.testing.pytest_plugin", "-W", "error"]
    result = subprocess.run(
        [*command, "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
