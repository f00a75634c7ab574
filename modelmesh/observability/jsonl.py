"""``modelmesh.file.v1``: one JSON object per line, appended to a file (``observability.path``).

A file it creates is readable by its owner only (0600); an existing file keeps its mode.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

DEFAULT_PATH = "modelmesh-events.jsonl"


class FileObserver:
    enabled = True

    def __init__(self, path: str | None = None, **_options: Any) -> None:
        self.path = Path(path or DEFAULT_PATH)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Events quote provider errors: a new file is readable by its owner only.
        descriptor = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._file = os.fdopen(descriptor, "a", encoding="utf-8", buffering=1)
        self._lock = threading.Lock()

    def emit(self, event: Mapping[str, Any]) -> None:
        line = json.dumps({"ts": round(time.time(), 3), **event}, default=str)
        with self._lock:
            if not self._file.closed:
                self._file.write(line + "\n")

    def close(self) -> None:
        with self._lock:
            self._file.close()

    def __del__(self) -> None:
        if not getattr(self, "_file", None) or self._file.closed:
            return
        self._file.close()

    def __repr__(self) -> str:
        return f"FileObserver(path={str(self.path)!r})"
