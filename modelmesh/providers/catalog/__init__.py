"""Provider presets and the default model catalogue, loaded from the YAML data files beside this module.

Owns the data rows (``providers.yaml``: how to reach each known provider; ``models.yaml``: the models
each one serves by default) and turning them, or a config's ``models`` entry, into ``ModelSpec``.
Files are read lazily on first use and cached. It does not detect keys or talk to providers:
the client decides which presets apply, and discovery refreshes model lists at runtime.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Literal

import yaml

from modelmesh import registry
from modelmesh.capabilities import CapabilityTree, expand_capabilities
from modelmesh.errors import ConfigError, UnknownNameError
from modelmesh.types import DELIVERY_MODES, FEATURES, ModelSpec

if TYPE_CHECKING:
    from modelmesh.config.models import ModelConfig

__all__ = ["ProviderPreset", "default_models", "find_model", "model_spec_from_config", "preset", "presets"]


@dataclass(frozen=True, slots=True)
class ProviderPreset:
    """One row of the provider table."""

    name: str  # "openai"
    connector: str  # "openai.llm.v1"
    dialect: Literal["openai", "anthropic"]
    key_env: str | None  # "OPENAI_API_KEY"; None for a keyless local server
    base_url: str  # default API root (OpenAI dialect) or host root (Anthropic)
    base_url_env: str | None  # "OPENAI_BASE_URL"
    capabilities: frozenset[str]  # full leaf IDs
    discover: bool = False  # list models from GET {base_url}/models at startup
    host_env: bool = False  # base_url_env holds a host (OLLAMA_HOST): API root = host + "/v1"

    def base_url_from(self, environ: Mapping[str, str] | None = None) -> str:
        """The base URL after applying ``base_url_env`` from ``environ`` (default ``os.environ``)."""
        environ = os.environ if environ is None else environ
        value = (environ.get(self.base_url_env) or "").strip() if self.base_url_env else ""
        if not value:
            return self.base_url
        if self.host_env:
            # OLLAMA_HOST is commonly "0.0.0.0:11434", without a scheme and without /v1.
            value = value if "://" in value else f"http://{value}"
            value = value.rstrip("/")
            return value if value.endswith("/v1") else f"{value}/v1"
        return value.rstrip("/")


# -- loading ---------------------------------------------------------------------------------------


def _read(name: str) -> dict[str, Any]:
    text = resources.files(__name__).joinpath(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ConfigError(f"catalogue file {name!r} must hold a mapping")
    return data


@functools.cache
def _presets() -> dict[str, ProviderPreset]:
    rows: dict[str, ProviderPreset] = {}
    for name, row in _read("providers.yaml").items():
        where = f"providers.yaml: {name}"
        try:
            rows[name] = ProviderPreset(
                name=name,
                connector=registry.CONNECTORS.canonical(row["connector"]),
                dialect=row["dialect"],
                key_env=row.get("key_env"),
                base_url=row["base_url"].rstrip("/"),
                base_url_env=row.get("base_url_env"),
                capabilities=expand_capabilities(row.get("capabilities", ["chat"])),
                discover=bool(row.get("discover", False)),
                host_env=bool(row.get("host_env", False)),
            )
        except (KeyError, TypeError, AttributeError, ConfigError) as exc:
            raise ConfigError(f"{where}: invalid preset row ({exc})") from None
    return rows


@functools.cache
def _catalogue() -> dict[str, tuple[ModelSpec, ...]]:
    data = _read("models.yaml")
    data.pop("_features", None)  # YAML anchors only
    unknown = set(data) - set(_presets())
    if unknown:
        raise ConfigError(f"models.yaml: models for unknown providers {sorted(unknown)}")
    return {
        provider: tuple(_spec_from_row(provider, row) for row in rows or ())
        for provider, rows in data.items()
    }


def _spec_from_row(provider: str, row: dict[str, Any]) -> ModelSpec:
    where = f"models.yaml: {provider}.{row.get('id')}"
    features = frozenset(row.get("features", ["system_prompt"]))
    delivery = frozenset(row.get("delivery", ["sync", "streaming"]))
    if not features <= FEATURES or not delivery <= DELIVERY_MODES:
        raise ConfigError(f"{where}: unknown features {sorted(features - FEATURES)} or delivery modes")
    try:
        return ModelSpec(
            id=str(row["id"]),
            provider=provider,
            capabilities=expand_capabilities(row["capabilities"]),
            features=features,
            delivery=delivery,
            context_window=row.get("context_window"),
            max_output_tokens=row.get("max_output_tokens"),
            input_price=row.get("input_per_1m"),
            output_price=row.get("output_per_1m"),
        )
    except (KeyError, ConfigError) as exc:
        raise ConfigError(f"{where}: invalid model row ({exc})") from None


# -- public API ------------------------------------------------------------------------------------


def presets() -> dict[str, ProviderPreset]:
    """Every provider preset by name (a new dict; the presets themselves are frozen)."""
    return dict(_presets())


def preset(name: str) -> ProviderPreset:
    rows = _presets()
    if name not in rows:
        raise UnknownNameError("provider", name, rows)
    return rows[name]


def default_models(provider: str) -> list[ModelSpec]:
    """The catalogue's models for a preset provider, in preference order ([] for discovering presets)."""
    preset(provider)  # raises for an unknown provider, listing the known ones
    return list(_catalogue().get(provider, ()))


def find_model(provider: str, model_id: str) -> ModelSpec | None:
    """The catalogue entry of ``model_id`` at ``provider``, if the catalogue knows it."""
    return next((spec for spec in _catalogue().get(provider, ()) if spec.id == model_id), None)


def model_spec_from_config(key: str, config: ModelConfig, tree: CapabilityTree | None = None) -> ModelSpec:
    """A ``ModelSpec`` for a config ``models`` entry.

    Fields the entry leaves unset come from the catalogue entry of the same provider and id when
    there is one. A model the catalogue does not know defaults to the ``chat`` group and the
    ``system_prompt`` feature only (the common self-hosted or gateway model): declare more to get
    requests with tools, images or structured output.
    """
    model_id = config.id or key.removeprefix(f"{config.provider}.")
    known = find_model(config.provider, model_id)
    explicit = config.model_fields_set
    if "capabilities" in explicit or known is None:
        capabilities = expand_capabilities(config.capabilities or ["chat"], tree)
    else:
        capabilities = known.capabilities
    if "features" in explicit:
        features = frozenset(config.features)
    else:
        features = known.features if known else frozenset({"system_prompt"})
    delivery = known.delivery if known and "delivery" not in explicit else frozenset(config.delivery)
    constraints, pricing = config.constraints, config.pricing
    return ModelSpec(
        id=model_id,
        provider=config.provider,
        capabilities=capabilities,
        features=features,
        delivery=delivery,
        context_window=_first(constraints.context_window, known and known.context_window),
        max_output_tokens=_first(constraints.max_output_tokens, known and known.max_output_tokens),
        input_price=_first(pricing.input_per_1m, known and known.input_price),
        output_price=_first(pricing.output_per_1m, known and known.output_price),
    )


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)
