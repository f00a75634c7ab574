"""Dotted-ID registries for pluggable components (policies, connectors, secret stores, outputs).

Built-ins are rows of ``id -> "module:attribute"`` resolved lazily on first use, so an unused
component is never imported. Users add their own with ``@registry.register("acme.my-policy.v1")``, or
publish them from a package as entry points (group ``modelmesh.strategies``, ``modelmesh.connectors``, ...).
Short names (``"round-robin"``) resolve to built-ins through an alias table.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import Generic, TypeVar

from modelmesh.errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A named table of components keyed by dotted versioned IDs (``modelmesh.round-robin.v1``)."""

    def __init__(
        self,
        kind: str,
        builtins: dict[str, str] | None = None,
        aliases: dict[str, str] | None = None,
        group: str | None = None,
    ) -> None:
        self.kind = kind
        self.group = group  # entry-point group of third-party components
        self._entry_points_loaded = False
        self._lazy: dict[str, str] = dict(builtins or {})
        self._loaded: dict[str, T] = {}
        self._aliases: dict[str, str] = dict(aliases or {})

    def register(self, component_id: str, *, alias: str | None = None) -> Callable[[T], T]:
        """Decorator registering a component under ``component_id`` (and optionally a short alias)."""

        def decorate(component: T) -> T:
            self.add(component_id, component, alias=alias)
            return component

        return decorate

    def add(self, component_id: str, component: T, *, alias: str | None = None) -> None:
        self._loaded[component_id] = component
        self._lazy.pop(component_id, None)
        if alias:
            self._aliases[alias] = component_id

    def canonical(self, name: str, *, path: str | None = None) -> str:
        """The full ID for ``name`` (an ID or a short alias); raises listing the valid names."""
        for attempt in range(2):
            if name in self._loaded or name in self._lazy:
                return name
            if name in self._aliases:
                return self._aliases[name]
            if attempt == 0 and not self._load_entry_points():
                break
        raise UnknownNameError(self.kind, name, self.names(), path=path)

    def _load_entry_points(self) -> bool:
        """Adds components published by installed packages (group ``modelmesh.<kind>``), once."""
        if self._entry_points_loaded or self.group is None:
            return False
        self._entry_points_loaded = True
        for entry in importlib.metadata.entry_points(group=self.group):
            self._lazy.setdefault(entry.name, entry.value)
        return True

    def get(self, name: str, *, path: str | None = None) -> T:
        component_id = self.canonical(name, path=path)
        if component_id not in self._loaded:
            module_name, _, attribute = self._lazy[component_id].partition(":")
            self._loaded[component_id] = getattr(importlib.import_module(module_name), attribute)
        return self._loaded[component_id]

    def names(self) -> list[str]:
        """Every accepted name: full IDs and short aliases."""
        return sorted({*self._loaded, *self._lazy, *self._aliases})

    def ids(self) -> list[str]:
        return sorted({*self._loaded, *self._lazy})

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self._loaded or name in self._lazy or name in self._aliases)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self.ids())} components)"


_P = "modelmesh.routing.policies"
STRATEGIES: Registry[type] = Registry(
    "strategy",
    group="modelmesh.strategies",
    builtins={
        "modelmesh.stick-until-failure.v1": f"{_P}:StickUntilFailurePolicy",
        "modelmesh.priority-selection.v1": f"{_P}:PrioritySelectionPolicy",
        "modelmesh.round-robin.v1": f"{_P}:RoundRobinPolicy",
        "modelmesh.cost-first.v1": f"{_P}:CostFirstPolicy",
        "modelmesh.latency-first.v1": f"{_P}:LatencyFirstPolicy",
        "modelmesh.session-stickiness.v1": f"{_P}:SessionStickinessPolicy",
        "modelmesh.rate-limit-aware.v1": f"{_P}:RateLimitAwarePolicy",
        "modelmesh.load-balanced.v1": f"{_P}:LoadBalancedPolicy",
    },
    aliases={
        name: f"modelmesh.{name}.v1"
        for name in (
            "stick-until-failure",
            "priority-selection",
            "round-robin",
            "cost-first",
            "latency-first",
            "session-stickiness",
            "rate-limit-aware",
            "load-balanced",
        )
    },
)

_OPENAI_DIALECT = "modelmesh.connectors.openai_chat:OpenAIChatConnector"
CONNECTORS: Registry[type] = Registry(
    "connector",
    group="modelmesh.connectors",
    builtins={
        "openai.llm.v1": _OPENAI_DIALECT,
        "openai.compatible.v1": _OPENAI_DIALECT,
        "google.gemini.v1": _OPENAI_DIALECT,
        "groq.api.v1": _OPENAI_DIALECT,
        "mistral.api.v1": _OPENAI_DIALECT,
        "together.api.v1": _OPENAI_DIALECT,
        "fireworks.api.v1": _OPENAI_DIALECT,
        "openrouter.gateway.v1": _OPENAI_DIALECT,
        "huggingface.inference.v1": _OPENAI_DIALECT,
        "deepseek.api.v1": _OPENAI_DIALECT,
        "xai.api.v1": _OPENAI_DIALECT,
        "ollama.local.v1": _OPENAI_DIALECT,
        "vllm.local.v1": _OPENAI_DIALECT,
        "lmstudio.local.v1": _OPENAI_DIALECT,
        "anthropic.claude.v1": "modelmesh.connectors.anthropic_messages:AnthropicMessagesConnector",
    },
)

SECRET_STORES: Registry[type] = Registry(
    "secret store",
    group="modelmesh.secret_stores",
    builtins={
        "modelmesh.env.v1": "modelmesh.config.secrets:EnvSecretStore",
        "modelmesh.dotenv.v1": "modelmesh.config.secrets:DotenvSecretStore",
    },
    aliases={"env": "modelmesh.env.v1", "dotenv": "modelmesh.dotenv.v1"},
)

OBSERVABILITY: Registry[type] = Registry(
    "observability connector",
    group="modelmesh.observability",
    builtins={
        "modelmesh.null.v1": "modelmesh.observability.null:NullObserver",
        "modelmesh.console.v1": "modelmesh.observability.console:ConsoleObserver",
        "modelmesh.file.v1": "modelmesh.observability.jsonl:FileObserver",
        "modelmesh.logging.v1": "modelmesh.observability.logging:LoggingObserver",
        "modelmesh.otel.v1": "modelmesh.observability.otel:OtelObserver",
    },
    aliases={
        "null": "modelmesh.null.v1",
        "console": "modelmesh.console.v1",
        "file": "modelmesh.file.v1",
        "logging": "modelmesh.logging.v1",
        "otel": "modelmesh.otel.v1",
    },
)

STATE_STORES: Registry[type] = Registry(
    "state store",
    group="modelmesh.state_stores",
    builtins={
        "modelmesh.memory.v1": "modelmesh.state.memory:MemoryStateStore",
        "modelmesh.sqlite.v1": "modelmesh.state.sqlite:SQLiteStateStore",
        "modelmesh.redis.v1": "modelmesh.state.redis:RedisStateStore",
    },
    aliases={"memory": "modelmesh.memory.v1", "sqlite": "modelmesh.sqlite.v1", "redis": "modelmesh.redis.v1"},
)
