"""``modelmesh demo``: the scripted failover tour answers every request and shows what the mesh did."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from modelmesh.demo import PROVIDERS, DemoResult, run_demo

ROOT = Path(__file__).resolve().parents[1]
COOLDOWN_S = "1"  # the shortest cooldown that keeps every phase's effect visible


@pytest.fixture(scope="module")
def demo() -> tuple[DemoResult, str]:
    buffer = io.StringIO()
    before = {k: v for k, v in os.environ.items() if k.endswith(("_API_KEY", "_BASE_URL"))}
    result = run_demo(Console(file=buffer, width=140, color_system=None), cooldown_s=float(COOLDOWN_S))
    after = {k: v for k, v in os.environ.items() if k.endswith(("_API_KEY", "_BASE_URL"))}
    assert after == before, "the demo must restore the provider environment variables"
    return result, buffer.getvalue()


def test_demo_answers_every_request(demo: tuple[DemoResult, str]) -> None:
    result, text = demo
    assert result.exit_code == 0
    assert result.failed == 0
    assert len(result.requests) >= 10
    assert any(r.stream for r in result.requests) and any(not r.stream for r in result.requests)
    assert all(r.model and r.text.startswith(f"Hello from {r.model}") for r in result.requests)
    assert f"{len(result.requests)}/{len(result.requests)} requests answered, 0 failed" in text


def test_demo_shows_failovers_deactivations_rotation_and_recoveries(demo: tuple[DemoResult, str]) -> None:
    result, text = demo
    assert result.failovers >= 3
    assert result.events["deactivation"] >= 2
    assert result.events["rotation"] == 1
    for line in (
        "HTTP 503",
        "HTTP 429",
        "HTTP 401",
        "failover openai.gpt-4o -> groq.llama-3.3-70b-versatile",
        "deactivated provider mistral",
        "client.rotate('chat-completion')",
        "recovered",
        "Demo summary",
        "Answered by",
    ):
        assert line in text


def test_demo_traffic_reaches_every_provider(demo: tuple[DemoResult, str]) -> None:
    result, _ = demo
    assert {r.provider for r in result.requests} == set(PROVIDERS)


def test_cli_demo_exits_0_when_piped() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    completed = subprocess.run(
        [sys.executable, "-m", "modelmesh.cli", "demo", "--cooldown", COOLDOWN_S],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "0 failed" in completed.stdout
    assert "\x1b[" not in completed.stdout  # not a terminal: no colour codes
