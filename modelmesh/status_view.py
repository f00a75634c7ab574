"""Pool status as rich renderables: the console the commands print on, and one table per pool.

Shared by ``modelmesh.watch`` (``status`` and ``status --watch``) and ``modelmesh.demo``. It imports rich
only when called (rich is the ``console`` extra) and sends no requests. It deliberately holds no plain-text
rendering and no refresh loop (``modelmesh.watch`` owns both) and parses no arguments (``modelmesh.cli``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from modelmesh.mesh import PoolStatus

PIPED_WIDTH = 120


def make_console() -> Console:
    try:
        from rich.console import Console
    except ImportError:  # pragma: no cover - rich is the `console` extra
        raise SystemExit("modelmesh: this command needs rich: pip install 'modelmesh[console]'") from None
    # Piped output (CI, `make demo | tee`) gets a fixed, roomy width instead of rich's default of 80.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH
    return Console(highlight=False, width=width)


def status_tables(statuses: dict[str, PoolStatus], providers: Sequence[str] = ()) -> list[Table]:
    """One rich table per pool: each model with its provider, health and time back from standby."""
    from rich.table import Table

    tables = []
    for name, status in statuses.items():
        title = (
            f"pool [bold]{_text(name)}[/]: {status.active}/{status.total} active, "
            f"current [cyan]{_text(status.current_model or '-')}[/]"
        )
        caption = f"strategy {_text(status.strategy)}"
        if providers:
            caption += f"\nactive providers: {_text(', '.join(providers))}"
        table = Table(title=title, caption=caption, title_justify="left", caption_justify="left")
        table.add_column("model")
        table.add_column("provider")
        table.add_column("state")
        table.add_column("reason")
        table.add_column("back in", justify="right")
        for model in status.models:
            current = model.model.split(".", 1)[-1] == status.current_model
            state = "[green]active[/]" if model.active else "[red]standby[/]"
            back = "" if model.back_in_s is None else f"{model.back_in_s:.1f} s"
            label = f"[bold]{_text(model.model)}[/] *" if current else _text(model.model)
            table.add_row(label, _text(model.provider), state, _text(model.reason or ""), back)
        tables.append(table)
    return tables


def _text(value: str) -> str:
    """Provider-supplied text as literal text: no rich markup, no terminal escapes."""
    from rich.markup import escape

    from modelmesh.observability.console import printable

    return escape(printable(value))
