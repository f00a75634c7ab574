"""``modelmesh status --watch``: live pools, models, states and countdowns; plain text without rich."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable

import pytest
from rich.console import Console

from modelmesh import MeshClient, create
from modelmesh.cli import main
from modelmesh.mesh import ModelStatus, PoolStatus
from modelmesh.watch import plain_status, watch_status

STATUS = PoolStatus(
    name="chat",
    active=1,
    standby=1,
    total=2,
    current_model="llama-3.3-70b-versatile",
    strategy="modelmesh.stick-until-failure.v1",
    models=[
        ModelStatus("openai.gpt-4o", "openai", False, "3 consecutive failures (server)", 42.25),
        ModelStatus("groq.llama-3.3-70b-versatile", "groq", True),
    ],
)


def test_plain_text_shows_states_reasons_countdowns_and_the_current_model() -> None:
    text = plain_status({"chat": STATUS}, ["groq"])
    lines = text.splitlines()
    assert (
        lines[0]
        == "pool chat: 1/2 active, current llama-3.3-70b-versatile (modelmesh.stick-until-failure.v1)"
    )
    gpt = next(line for line in lines if "openai.gpt-4o" in line)
    assert "standby" in gpt and "3 consecutive failures (server)" in gpt and "42.2 s" in gpt
    llama = next(line for line in lines if "groq.llama-3.3-70b-versatile" in line)
    assert llama.startswith("* ") and "active" in llama
    assert lines[-1] == "active providers: groq"


class _Clock:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def _rotated(fakes_client: Callable[[], MeshClient]) -> MeshClient:
    client = fakes_client()
    client.rotate("chat-completion")  # gpt-4o on standby with a countdown
    return client


def test_watch_without_rich_prints_plain_refreshes(fakes, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "rich.live", None)  # as if rich were not installed
    client = _rotated(lambda: create("chat-completion", models=["gpt-4o", "llama-3.3-70b-versatile"]))
    out, clock = io.StringIO(), _Clock()
    try:
        watch_status(client, interval_s=0.5, count=3, out=out, sleep=clock.sleep)
    finally:
        client.close()
    text = out.getvalue()
    assert text.count("pool chat-completion: 1/2 active, current llama-3.3-70b-versatile") == 3
    assert "standby" in text and "manual rotation" in text and " s" in text
    assert clock.sleeps == [0.5, 0.5]  # between refreshes, not after the last
    assert "\x1b[" not in text  # not a terminal: no screen clearing


def test_watch_with_rich_renders_the_tables_live(fakes) -> None:  # type: ignore[no-untyped-def]
    client = _rotated(lambda: create("chat-completion", models=["gpt-4o", "llama-3.3-70b-versatile"]))
    buffer = io.StringIO()
    console = Console(file=buffer, width=160, color_system=None)
    try:
        watch_status(client, interval_s=0.5, count=2, console=console, sleep=_Clock().sleep)
    finally:
        client.close()
    text = buffer.getvalue()
    assert "pool chat-completion: 1/2 active, current llama-3.3-70b-versatile" in text
    assert "manual rotation" in text and "standby" in text


def test_cli_status_watch_with_a_count(fakes, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    assert main(["status", "--watch", "--interval", "0.01", "--count", "2"]) == 0
    out = capsys.readouterr().out
    assert "pool chat-completion" in out and "openai.gpt-4o" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["status", "--watch", "--interval", "0"], "must be > 0"),
        (["status", "--watch", "--count", "0"], "must be a whole number > 0"),
        (["status", "--count", "2"], "--count needs --watch"),
    ],
)
def test_watch_arguments_are_checked(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_status_without_rich_prints_plain_text(fakes, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "rich.console", None)
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert "pool chat-completion:" in out and "active providers: openai, groq" in out
