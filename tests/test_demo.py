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


def test_demo_without_its_extra_names_the_missing_packages_and_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelmesh.cli import main

    monkeypatch.setitem(sys.modules, "starlette", None)  # as if not installed
    with pytest.raises(SystemExit) as info:
        main(["demo"])
    message = str(info.value.code)
    assert "starlette" in message and 'pip install "modelmesh[demo]"' in message
    assert "rich" not in message.split("missing")[-1]  # only what is missing is named


# Installed distributions a `pip install "modelmesh[demo]"` brings: the core requirements and the demo extra
# of pyproject.toml and everything they need; every other third-party module is blocked in the child.
_ONLY_DEMO_EXTRA = r"""
import importlib.abc, importlib.metadata as md, re, runpy, sys

def closure(requirements):
    seen, todo = set(), list(requirements)
    while todo:
        req = todo.pop()
        if ";" in req and "extra ==" in req:
            continue
        name = re.split(r"[\s\[<>=!~;(]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        try:
            todo += md.requires(name) or []
        except md.PackageNotFoundError:
            pass
    return seen

import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
allowed = closure(project["dependencies"] + project["optional-dependencies"]["demo"])
blocked = {
    module
    for module, dists in md.packages_distributions().items()
    if module != "modelmesh" and not any(d.lower().replace("_", "-") in allowed for d in dists)
}

class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"{name} is not installed by modelmesh[demo]")
        return None

sys.meta_path.insert(0, Block())
sys.argv = ["modelmesh", "demo", "--cooldown", "1"]
runpy.run_module("modelmesh.cli", run_name="__main__")
"""


def test_demo_runs_with_only_the_core_and_the_demo_extra_installed() -> None:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env["PYTHONPATH"] = str(ROOT)
    completed = subprocess.run(
        [sys.executable, "-c", _ONLY_DEMO_EXTRA],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-2000:]
    assert "0 failed" in completed.stdout
