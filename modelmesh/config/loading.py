"""Reading a config file: ``.yaml`` / ``.yml`` / ``.json`` text into the mapping ``MeshConfig`` validates.

Owns file-level failures (unsupported suffix, missing or unreadable file, syntax errors, a top level that
is not a mapping), each a ``ConfigError`` naming the file. Syntax errors report only the line and the
parser's reason, never the offending text, which may be a secret.

A file is data from whoever wrote it, so its shape is bounded before anything walks it: YAML aliases may
share nodes but not expand beyond ``MAX_VALUES`` values or refer to themselves, and nesting stops at
``MAX_DEPTH``; the check visits each distinct node once, so it is linear in the file's size.

Deliberately not here: validation, defaults and secret resolution (``modelmesh.config``); this module
knows nothing of the schema, so an empty file is simply ``{}``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from modelmesh.errors import ConfigError

MAX_VALUES = 100_000  # a real config holds hundreds; a 715-byte alias bomb expands to 387 million
MAX_DEPTH = 64


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
    except RecursionError:
        raise ConfigError(f"config file {str(path)!r} is nested too deeply") from None
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
    problem = shape_problem(data)
    if problem:
        raise ConfigError(f"config file {str(path)!r}: {problem}")
    return data


def shape_problem(data: Any) -> str | None:
    """Why nested ``data`` is unsafe to walk (too many values once aliases expand, a cycle, too deep).

    Counts each distinct dict or list once (sizes are memoised by identity), so shared nodes cost
    nothing extra; iterative, so no input can exhaust the stack here.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # entered, not yet finished: exactly the ancestors of what is popped
    stack: list[tuple[Any, int, bool]] = [(data, 1, False)]
    while stack:
        node, depth, finished = stack.pop()
        children = list(node.values()) if isinstance(node, dict) else node
        if finished:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes.get(id(child), 1) for child in children)
            if sizes[id(node)] > MAX_VALUES:
                return f"YAML aliases expand to more than {MAX_VALUES:,} values (an alias bomb?)"
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_nodes:
            return "a YAML alias refers to itself (a value that contains itself)"
        if depth > MAX_DEPTH:
            return f"values are nested more than {MAX_DEPTH} levels deep"
        open_nodes.add(id(node))
        stack.append((node, depth, True))
        stack.extend((child, depth + 1, False) for child in children if isinstance(child, dict | list))
    return None
