"""``modelmesh.console.v1``: coloured, human-readable lines on stderr for development.

Writes plain ANSI colours. Events carry text from providers (error messages, standby reasons), which
must not drive the terminal: :func:`printable` escapes control characters, terminal escape sequences
and bidirectional overrides in every line, and ``modelmesh status`` uses it too.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Mapping
from typing import Any, TextIO

# C0 and C1 controls (ESC starts terminal sequences), DEL, and the Unicode bidi controls that reorder text.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_COLOURS = {"ok": "32", "failover": "33", "deactivation": "31", "rotation": "35", "failed": "31"}


class ConsoleObserver:
    enabled = True

    def __init__(self, path: str | None = None, stream: TextIO | None = None, **_options: Any) -> None:
        self._stream = stream or sys.stderr
        self._lock = threading.Lock()

    def emit(self, event: Mapping[str, Any]) -> None:
        line, colour = format_event(event)
        line = printable(line)
        text = f"\x1b[{colour}m{line}\x1b[0m" if self._stream.isatty() else line
        with self._lock:
            print(text, file=self._stream)

    def close(self) -> None:
        return None


def printable(text: str) -> str:
    """``text`` with every control, escape and bidi character shown as a ``\\xNN`` / ``\\uNNNN`` escape."""
    return _UNPRINTABLE.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def format_event(event: Mapping[str, Any]) -> tuple[str, str]:
    """A one-line summary of an event and its ANSI colour code."""
    kind = event.get("event")
    pool = event.get("pool", "")
    if kind == "attempt":
        outcome = event.get("outcome")
        status = f" HTTP {event['status']}" if event.get("status") else ""
        line = (
            f"[modelmesh] {pool}: attempt {event.get('attempt')} -> {event.get('provider')}/"
            f"{event.get('model')} {outcome}{status} in {event.get('latency_ms')} ms"
        )
        return line, _COLOURS["ok"] if outcome == "ok" else "33"
    if kind == "decision":
        return f"[modelmesh] {pool}: selected {event.get('model')}", "34"
    if kind == "failover":
        return (
            f"[modelmesh] {pool}: failover {event.get('from')} -> {event.get('to')} ({event.get('reason')})",
            _COLOURS["failover"],
        )
    if kind == "deactivation":
        target = event.get("model") or event.get("provider")
        return f"[modelmesh] {event.get('scope')} {target} to standby: {event.get('reason')}", _COLOURS[
            "deactivation"
        ]
    if kind == "rotation" and event.get("rotated") is False:
        kept = f"[modelmesh] {pool}: rotation kept {event.get('to')}: {event.get('note')}"
        return kept, _COLOURS["rotation"]
    if kind == "rotation":
        return f"[modelmesh] {pool}: rotated {event.get('from')} -> {event.get('to')}", _COLOURS["rotation"]
    if kind == "probe":
        return f"[modelmesh] {pool}: recovery probe to {event.get('model')}", "34"
    if kind == "continuation":
        return (
            f"[modelmesh] {pool}: stream from {event.get('from')} broke after "
            f"{event.get('delivered_chars')} characters; resuming with a prefill"
        ), _COLOURS["failover"]
    if kind == "prefill_rejected":
        return f"[modelmesh] {pool}: {event.get('model')} rejected the prefill", _COLOURS["failover"]
    if kind == "state":
        if event.get("degraded"):
            return (
                f"[modelmesh] shared state unavailable, routing on local state ({event.get('store')})",
                _COLOURS["deactivation"],
            )
        return f"[modelmesh] shared state back ({event.get('store')})", _COLOURS["ok"]
    if kind == "request":
        if event.get("outcome") == "failed":
            return f"[modelmesh] {pool}: request failed: {event.get('error')}", _COLOURS["failed"]
        if event.get("outcome") not in (None, "ok"):
            return (
                f"[modelmesh] {pool}: {event.get('outcome')} answer from {event.get('provider')}/"
                f"{event.get('model')}"
            ), _COLOURS["failed"]
        return (
            f"[modelmesh] {pool}: answered by {event.get('provider')}/{event.get('model')} "
            f"({event.get('attempts')} attempts, {event.get('prompt_tokens')}+"
            f"{event.get('completion_tokens')} tokens)"
        ), "36"
    return f"[modelmesh] {event}", "0"
