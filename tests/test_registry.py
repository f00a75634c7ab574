"""Dotted-ID registries: lazy built-ins, short aliases, decorators, entry points, clear unknown names."""

from __future__ import annotations

import importlib.metadata
import sys

import pytest

from modelmesh import create
from modelmesh.errors import UnknownNameError
from modelmesh.registry import STRATEGIES, Registry
from modelmesh.routing.policies import BasePolicy, RoundRobinPolicy

HELLO = [{"role": "user", "content": "hi"}]


def test_short_alias_and_full_id_resolve_to_the_same_builtin() -> None:
    assert STRATEGIES.get("round-robin") is STRATEGIES.get("modelmesh.round-robin.v1") is RoundRobinPolicy


def test_builtins_are_imported_only_when_first_used() -> None:
    registry = Registry("widget", builtins={"acme.json.v1": "json:JSONDecoder"})
    assert "acme.json.v1" in registry.ids()
    assert registry.get("acme.json.v1").__name__ == "JSONDecoder"


def test_unknown_name_lists_close_matches_and_valid_names() -> None:
    with pytest.raises(UnknownNameError) as info:
        STRATEGIES.canonical("cost-frist", path="pools.chat.strategy")
    message = str(info.value)
    assert message.startswith("pools.chat.strategy: unknown strategy 'cost-frist'. Did you mean 'cost-first'")
    assert "Valid strategies:" in message and "round-robin" in message


def test_a_decorated_user_strategy_is_usable_by_id_and_alias(fakes) -> None:  # type: ignore[no-untyped-def]
    @STRATEGIES.register("tests.last-first.v1", alias="last-first")
    class LastFirst(BasePolicy):
        def order(self, ctx, candidates):  # type: ignore[no-untyped-def]
            return list(reversed(candidates))

    try:
        client = create(
            "chat-completion", models=["gpt-4o", "llama-3.3-70b-versatile"], strategy="last-first"
        )
        assert (
            client.chat.completions.create(model="chat-completion", messages=HELLO).model
            == "llama-3.3-70b-versatile"
        )
    finally:
        STRATEGIES._loaded.pop("tests.last-first.v1")
        STRATEGIES._aliases.pop("last-first")


def test_entry_point_components_are_found_on_first_miss(monkeypatch: pytest.MonkeyPatch) -> None:
    module = type(sys)("acme_policies")
    module.Newest = type("Newest", (BasePolicy,), {})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "acme_policies", module)
    entry = importlib.metadata.EntryPoint("acme.newest.v1", "acme_policies:Newest", "modelmesh.strategies")

    def entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        return [entry] if group == "modelmesh.strategies" else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    registry = Registry("strategy", builtins={}, group="modelmesh.strategies")
    assert registry.get("acme.newest.v1") is module.Newest  # type: ignore[attr-defined]
    with pytest.raises(UnknownNameError):
        registry.get("acme.oldest.v1")
