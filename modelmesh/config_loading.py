"""Reading a config file: ``.yaml`` / ``.yml`` / ``.json`` text into the mapping ``MeshConfig`` validates.

Owns file-level failures (unsupported suffix, missing or unreadable file, syntax errors, a top level that
is not a mapping), each a ``ConfigError`` naming the file. Syntax errors report only the line and the
parser's reason, never the offending text, which may be a secret.

Deliberately not here: validation, defaults and secret resolution (``modelmesh.config``); this module
knows nothing of the schema, so an empty file is simply ``{}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from modelmesh.errors import ConfigError


def read_config_file(path: Path) -> dict[Any, Any]:
    """The mapping held by the config file at ``path`` (``{}`` for an empty file)."""
    suffix = path.suffix.lower()
    if suffix not in (".yaml", ".yml", ".json"):
        raise ConfigError(
            f"config file {str(path)!r}: unsupported type {suffix or '(none)'!r}; use .yaml or .json"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be read: {exc}") from None
    try:
        data = json.loads(text) if suffix == ".json" else yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        # Only the position and the parser's reason: the offending text may be a secret.
        raise ConfigError(
            f"config file {str(path)!r} is not valid JSON (line {exc.lineno}: {exc.msg})"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        reason = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"config file {str(path)!r} is not valid YAML ({where}{reason})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping, not a {type(data).__name__}")
    return data
