"""Pool status on a terminal for ``modelmesh status`` and ``status --watch``.

Owns the rendering (rich tables from ``modelmesh.status_view`` when rich is installed, plain text
otherwise) and the refresh loop of ``--watch`` (a rich ``Live`` view, or plain frames). The numbers come
from ``client.pool_status()`` and ``client.active_providers()``; it sends no requests and changes no
state. It does not parse arguments: ``modelmesh.cli`` does.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import IO, TYPE_CHECKING, Any

from modelmesh.status_view import make_console, status_tables

if TYPE_CHECKING:
    from rich.console import Console

    from modelmesh.client import MeshClient
    from modelmesh.mesh import PoolStatus

_CLEAR = "\x1b[2J\x1b[H"  # clear the screen, cursor home: a terminal shows one frame at a time


def plain_status(statuses: dict[str, PoolStatus], providers: Sequence[str] = ()) -> str:
    """Every pool as aligned text: models, provider, state, time back from standby, reason."""
    blocks = []
    for name, status in statuses.items():
        rows = [("  model", "provider", "state", "back in", "reason")]
        for model in status.models:
            mark = "*" if model.model.split(".", 1)[-1] == status.current_model else " "
            back = "" if model.back_in_s is None else f"{model.back_in_s:.1f} s"
            state = "active" if model.active else "standby"
            rows.append((f"{mark} {model.model}", model.provider, state, back, model.reason or ""))
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            f"pool {name}: {status.active}/{status.total} active, "
            f"current {status.current_model or '-'} ({status.strategy})"
        ]
        for row in rows:
            cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2])]
            lines.append("  ".join([*cells, row[3].rjust(widths[3]), row[4]]).rstrip())
        if status.state_degraded:
            lines.append("shared state unavailable: routing on local state")
        blocks.append("\n".join(lines))
    if providers:
        blocks.append(f"active providers: {', '.join(providers)}")
    return "\n\n".join(blocks)


def show_status(client: MeshClient, *, console: Console | None = None, out: IO[str] | None = None) -> None:
    """Print the status once: rich tables when rich is installed, plain text otherwise."""
    try:
        console = console or make_console()
    except SystemExit:  # make_console exits when rich is missing
        print(plain_status(client.pool_status(), client.active_providers()), file=out or sys.stdout)
        return
    for table in status_tables(client.pool_status(), client.active_providers()):
        console.print(table)


def watch_status(
    client: MeshClient,
    *,
    interval_s: float = 1.0,
    count: int | None = None,
    console: Console | None = None,
    out: IO[str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Refresh the status every ``interval_s`` until ``count`` frames were shown (default: until Ctrl-C)."""
    try:
        from rich.console import Group
        from rich.live import Live
    except ImportError:
        _watch_plain(client, interval_s, count, out or sys.stdout, sleep)
        return

    def frame() -> Any:
        return Group(*status_tables(client.pool_status(), client.active_providers()))

    with Live(frame(), console=console or make_console(), auto_refresh=False) as live:
        for _ in _frames(count, interval_s, sleep, first_done=True):
            live.update(frame(), refresh=True)


def _watch_plain(
    client: MeshClient, interval_s: float, count: int | None, out: IO[str], sleep: Callable[[float], None]
) -> None:
    clear = _CLEAR if out.isatty() else ""
    for number in _frames(count, interval_s, sleep):
        stamp = time.strftime("%H:%M:%S")
        text = plain_status(client.pool_status(), client.active_providers())
        separator = "\n" if number and not clear else ""
        print(f"{clear}{separator}modelmesh status at {stamp} (every {interval_s:g} s)\n{text}", file=out)
        out.flush()


def _frames(
    count: int | None, interval_s: float, sleep: Callable[[float], None], *, first_done: bool = False
) -> Iterator[int]:
    """Frame numbers, sleeping ``interval_s`` between frames (not before the first, not after the last)."""
    number = 1 if first_done else 0
    while count is None or number < count:
        if number:
            sleep(interval_s)
        yield number
        number += 1
