"""The three observability outputs: null (no events built), console (human lines), file (JSONL)."""

from __future__ import annotations

import io
import json

from modelmesh import create
from modelmesh.observability.console import ConsoleObserver, format_event
from modelmesh.observability.jsonl import FileObserver
from modelmesh.observability.null import NullObserver
from modelmesh.testing import Fault

HELLO = [{"role": "user", "content": "hi"}]


def test_default_output_is_null_and_disabled(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion")
    assert isinstance(client.mesh.observer, NullObserver) and client.mesh.observer.enabled is False


def test_console_output_describes_attempts_failovers_and_the_answer(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion", config={"observability": {"connector": "modelmesh.console.v1"}})
    stream = io.StringIO()
    client.mesh.observer = ConsoleObserver(stream=stream)
    fakes[0].fail_next(1, Fault.status(401, message="Incorrect API key provided: sk-test-openai-123456"))
    client.chat.completions.create(model="chat-completion", messages=HELLO)
    client.close()  # its pooled connection would otherwise be reported unclosed at a later gc
    text = stream.getvalue()
    assert "attempt 1 -> openai/gpt-4o auth HTTP 401" in text
    assert "failover openai.gpt-4o -> groq.llama-3.3-70b-versatile (auth)" in text
    assert "provider openai to standby" in text
    assert "answered by groq/llama-3.3-70b-versatile" in text
    assert "sk-test-openai-123456" not in text and "\x1b[" not in text  # not a TTY: no colour codes


def test_every_event_kind_has_a_readable_line() -> None:
    for event in (
        {"event": "rotation", "pool": "p", "from": "a", "to": "b"},
        {"event": "request", "pool": "p", "outcome": "failed", "error": "boom"},
        {"event": "decision", "pool": "p", "model": "m", "candidates": 2},
    ):
        line, colour = format_event(event)
        assert line.startswith("[modelmesh] ") and "{" not in line and colour


def test_a_kept_rotation_reads_as_kept_not_as_a_move() -> None:
    event = {"event": "rotation", "pool": "p", "from": "m", "to": "m", "rotated": False, "note": "no other"}
    line, _ = format_event(event)
    assert line == "[modelmesh] p: rotation kept m: no other"


def test_file_output_appends_one_json_object_per_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "nested" / "events.jsonl"
    observer = FileObserver(path=str(path))
    observer.emit({"event": "attempt", "model": "m"})
    observer.emit({"event": "request", "model": "m"})
    observer.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["event"] for e in lines] == ["attempt", "request"] and all("ts" in e for e in lines)
    assert "events.jsonl" in repr(observer)
