"""``modelmesh.logging.v1``: routing events as records on the standard ``logging`` hierarchy.

One logger per event kind under ``modelmesh`` (``modelmesh.request``, ``modelmesh.attempt``,
``modelmesh.failover``, ...), so ``logging.basicConfig()`` shows failovers and deactivations (WARNING),
``INFO`` adds one line per request and ``DEBUG`` every attempt and decision. Each record carries the
event dict as ``record.modelmesh_event`` for structured formatters. It never configures handlers or
levels: that is the application's choice. Wording is shared with the console output.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from modelmesh.observability.console import format_event

_PREFIX = "[modelmesh] "
_LEVELS = {
    "attempt": logging.DEBUG,
    "decision": logging.DEBUG,
    "probe": logging.DEBUG,
    "request": logging.INFO,
    "rotation": logging.INFO,
    "failover": logging.WARNING,
    "deactivation": logging.WARNING,
    "continuation": logging.WARNING,
    "prefill_rejected": logging.WARNING,
    "state": logging.WARNING,
}


class LoggingObserver:
    """Emits each event on ``{logger}.{event kind}`` at the kind's level (see the module docstring)."""

    enabled = True

    def __init__(self, path: str | None = None, *, logger: str = "modelmesh", **_options: Any) -> None:
        self._base = logger
        self._loggers: dict[str, logging.Logger] = {}

    def emit(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("event") or "event")
        level = level_of(kind, event)
        logger = self._loggers.get(kind)
        if logger is None:
            logger = self._loggers.setdefault(kind, logging.getLogger(f"{self._base}.{kind}"))
        if logger.isEnabledFor(level):  # format only what someone listens to
            logger.log(level, message_of(event), extra={"modelmesh_event": event})

    def close(self) -> None:
        return None


def level_of(kind: str, event: Mapping[str, Any]) -> int:
    """Failed or cut-short requests and a degraded store are worth a WARNING (a kept rotation is
    already one: ``ModelMesh.rotate`` warns on ``modelmesh.rotation`` itself)."""
    if kind == "request" and event.get("outcome") not in (None, "ok"):
        return logging.WARNING
    if kind == "state" and not event.get("degraded"):
        return logging.INFO
    return _LEVELS.get(kind, logging.INFO)


def message_of(event: Mapping[str, Any]) -> str:
    line, _colour = format_event(event)
    return line.removeprefix(_PREFIX)
