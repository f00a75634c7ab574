"""``modelmesh.null.v1``: the default output. ``enabled = False`` lets the router skip building events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class NullObserver:
    enabled = False

    def __init__(self, **_options: Any) -> None:
        pass

    def emit(self, event: Mapping[str, Any]) -> None:
        return None

    def close(self) -> None:
        return None
