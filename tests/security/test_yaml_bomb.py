"""Finding 7: a small YAML of nested aliases (or a self-referencing one) cannot make loading hang.

The guard is a bound on how many values the aliases expand to, counted once per shared node, so
loading stays linear in the file's size; the wall-clock bounds below only catch a hang.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from modelmesh.config import MeshConfig
from modelmesh.config.secrets import MappingSecretStore, resolve_references
from modelmesh.errors import ConfigError


def _bomb(levels: int = 9) -> str:
    leaves = ",".join(['"lol"'] * 9)
    lines = ["observability:", "  options:", f"    l0: &l0 [{leaves}]"]
    for level in range(1, levels):
        refs = ",".join([f"*l{level - 1}"] * 9)
        lines.append(f"    l{level}: &l{level} [{refs}]")
    return "\n".join(lines) + "\n"


def test_the_bomb_is_small() -> None:
    assert len(_bomb().encode()) < 800


def test_an_alias_bomb_is_rejected_quickly_with_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(_bomb())
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"bomb\.yaml.*aliases expand to more than"):
        MeshConfig.from_file(path)
    assert time.monotonic() - started < 2.0


def test_a_self_referencing_yaml_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "loop.yaml"
    path.write_text("observability:\n  options:\n    loop: &loop [1, *loop]\n")
    with pytest.raises(ConfigError, match=r"loop\.yaml.*refers to itself"):
        MeshConfig.from_file(path)


def test_deep_nesting_is_a_config_error_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("observability:\n  options:\n    deep: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.yaml"):
        MeshConfig.from_file(path)


def test_moderate_sharing_of_anchors_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text(
        "pools:\n  chat: &pool {capability: chat-completion, retry: {max_attempts: 2}}\n  other: *pool\n"
    )
    config = MeshConfig.from_file(path)
    assert config.pools["other"].retry.max_attempts == 2


def test_resolve_references_walks_a_shared_node_once() -> None:
    # Built in Python (no YAML involved): 2**40 paths, 40 distinct nodes.
    node: object = ["${secrets:x}"]
    for _ in range(40):
        node = [node, node]
    started = time.monotonic()
    missing: list[tuple[str, str]] = []
    resolved = resolve_references(node, MappingSecretStore({"x": "value"}), missing)
    assert time.monotonic() - started < 2.0
    assert not missing
    inner = resolved
    for _ in range(40):
        assert inner[0] is inner[1]
        inner = inner[0]
    assert inner == ["value"]
