"""``MeshConfig``: the Layer-2 configuration, its loading from YAML/JSON/dicts, and ``${secrets:}``.

Owns the schema (pydantic models, ``extra="forbid"`` so typos fail), loading (a file, a dict and a
``MeshConfig`` are equivalent), validation of every name against the registries and the capability
tree, and secret resolution. Every failure is a ``ConfigError`` whose message starts with the dotted
path of the bad field; pydantic's own errors never escape, because they echo input values (secrets):
``config_errors`` translates them and ``config_loading`` reads files. The reliability sections of a
pool live in ``reliability``, the ``models`` entries in ``models`` (so that the provider catalogue can
read them without importing this module), both re-exported here.

Secrets are resolved at load: ``from_file`` / ``from_dict`` / ``load`` return a config whose
``${secrets:NAME}`` references are replaced (pass ``resolve_secrets=False`` to only validate, then call
``resolve_secrets()``). Disabled providers are not resolved. Pickles and ``model_dump`` carry the
``${secrets:}`` templates again, never resolved values (see ``secrets.SecretSafeModel``).

It does not build anything: the client turns a config into providers, pools and stores.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from os import PathLike
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from modelmesh import registry
from modelmesh.capabilities import CapabilityTree, default_tree, expand_capabilities
from modelmesh.config.errors import at_path, combine, translate
from modelmesh.config.loading import read_config_file
from modelmesh.config.models import ConstraintsConfig as ConstraintsConfig
from modelmesh.config.models import Feature as Feature
from modelmesh.config.models import ModelConfig
from modelmesh.config.models import PricingConfig as PricingConfig
from modelmesh.config.reliability import (
    DeactivationConfig,
    QuotaConfig,
    QuotaLimit,
    RecoveryConfig,
    RetryConfig,
    StreamingConfig,
    TimeoutsConfig,
)
from modelmesh.config.secrets import (
    ChainSecretStore,
    MappingSecretStore,
    SecretStore,
    clean_credential,
    env_name,
    references,
    resolve_references,
)
from modelmesh.config.section import ConfigSection
from modelmesh.errors import ConfigError, UnknownNameError
from modelmesh.providers import catalog
from modelmesh.types import check_base_url

_DEFAULT_CONNECTOR = "openai.compatible.v1"


def _in(reg: registry.Registry[Any]) -> AfterValidator:
    """A registry name, normalised to its full ID; only ``canonical``: the component may not exist yet."""
    return AfterValidator(lambda name: reg.canonical(name))


Strategy = Annotated[str, _in(registry.STRATEGIES)]
_CAMEL_KEYS = {"apiKey": "api_key", "baseUrl": "base_url"}  # the seed's TypeScript spelling


# -- schema ----------------------------------------------------------------------------------------


class SecretsConfig(ConfigSection):
    store: Annotated[str, _in(registry.SECRET_STORES)] = "modelmesh.env.v1"
    path: str | None = None  # the .env file of modelmesh.dotenv.v1
    values: dict[str, SecretStr] = {}  # inline secrets, looked up before the store


class StorageConfig(ConfigSection):
    store: Annotated[str, _in(registry.STATE_STORES)] = "modelmesh.memory.v1"
    path: str | None = None
    url: SecretStr | None = None  # e.g. a redis URL, which may carry a password
    prefix: str = "modelmesh"


class ObservabilityConfig(ConfigSection):
    connector: Annotated[str, _in(registry.OBSERVABILITY)] = "modelmesh.null.v1"
    path: str | None = "modelmesh-events.jsonl"
    options: dict[str, Any] = {}


class ProviderConfig(ConfigSection):
    model_config = ConfigDict(extra="forbid", validate_default=True, arbitrary_types_allowed=True)

    # None is filled at MeshConfig level: the preset's connector, else openai.compatible.v1.
    connector: Annotated[str, _in(registry.CONNECTORS)] | None = None
    api_key: SecretStr | None = None
    base_url: str | None = None
    enabled: bool = True
    models: list[str] | None = None
    headers: dict[str, str] = Field(default={}, repr=False)  # may hold resolved secrets
    discover: bool = False
    config: dict[str, Any] = Field(default={}, repr=False)  # connector options left after the merge
    instance: Any = None  # a user object (QuickProvider) kept by identity
    quota: QuotaConfig = QuotaConfig()

    @model_validator(mode="before")
    @classmethod
    def _merge_nested_config(cls, data: Any) -> Any:
        """The seed's ``{"config": {"api_key": ...}}`` form: nested keys fill unset top-level fields.

        Known keys always leave ``config`` so a literal key never lingers in a plain dict.
        """
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
            return data
        data, nested = dict(data), dict(data["config"])
        for key in list(nested):
            field = _CAMEL_KEYS.get(key, key)
            if field in cls.model_fields and field != "config":
                value = nested.pop(key)
                if data.get(field) is None:
                    data[field] = value
        data["config"] = nested
        return data


class SessionConfig(ConfigSection):
    mode: Literal["strict", "fallback"] = "fallback"
    ttl_s: float = Field(default=3600, gt=0)
    header: str = "x-session-id"


class PoolConfig(ConfigSection):
    capability: str | None = None  # filled at MeshConfig level: the pool's name
    models: list[str] | None = None
    providers: list[str] | None = None
    strategy: Strategy = "stick-until-failure"  # normalised to the registry's full ID
    fallback_strategy: Strategy = "stick-until-failure"
    model_priority: list[str] = []
    provider_priority: list[str] = []
    session: SessionConfig = SessionConfig()
    rate_limit_threshold: float = Field(default=0.8, gt=0, le=1)
    deactivation: DeactivationConfig = DeactivationConfig()
    recovery: RecoveryConfig = RecoveryConfig()
    retry: RetryConfig = RetryConfig()
    timeouts: TimeoutsConfig = TimeoutsConfig()
    streaming: StreamingConfig = StreamingConfig()
    quota: list[QuotaLimit] = []  # the pool's own budget: when spent, requests fail with a clear 429


class MeshConfig(ConfigSection):
    """The whole mesh configuration. Build it with ``load`` / ``from_file`` / ``from_dict``."""

    secrets: SecretsConfig = SecretsConfig()
    providers: dict[str, ProviderConfig] = {}
    models: dict[str, ModelConfig] = {}
    pools: dict[str, PoolConfig] = {}
    capabilities: list[str] = []  # custom dotted capability IDs added to the tree
    storage: StorageConfig = StorageConfig()
    observability: ObservabilityConfig = ObservabilityConfig()

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise translate(exc, MeshConfig) from None

    @classmethod
    def model_validate(cls, obj: Any, **kwargs: Any) -> MeshConfig:
        if isinstance(obj, Mapping) and not kwargs:
            return cls.from_dict(obj, resolve_secrets=False)
        try:
            return super().model_validate(obj, **kwargs)
        except ValidationError as exc:
            raise translate(exc, MeshConfig) from None

    @model_validator(mode="before")
    @classmethod
    def _infer_model_providers(cls, data: Any) -> Any:
        """A model keyed ``openai.gpt-4o`` with no ``provider`` belongs to the configured ``openai``."""
        if not isinstance(data, dict) or not isinstance(data.get("models"), dict):
            return data
        providers = data["providers"] if isinstance(data.get("providers"), dict) else {}
        models = dict(data["models"])
        for key, model in models.items():
            prefix = str(key).partition(".")[0]
            if (
                isinstance(model, dict)
                and "provider" not in model
                and "." in str(key)
                and prefix in providers
            ):
                models[key] = {**model, "provider": prefix}
        return {**data, "models": models}

    @model_validator(mode="after")
    def _check_names(self) -> MeshConfig:
        _check_names(self)
        _clean_credentials(self, literal=True)
        return self

    # -- loading ----------------------------------------------------------------------------------

    @classmethod
    def from_file(cls, path: str | PathLike[str], *, resolve_secrets: bool = True) -> MeshConfig:
        """Load a ``.yaml`` / ``.yml`` / ``.json`` file."""
        return cls.from_dict(read_config_file(Path(path)), resolve_secrets=resolve_secrets)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, resolve_secrets: bool = True) -> MeshConfig:
        if not isinstance(data, Mapping):
            raise ConfigError(f"config must be a mapping, got {type(data).__name__}")
        if bad := [key for key in data if not isinstance(key, str)]:
            raise ConfigError(f"config keys must be strings, got {bad[0]!r}")
        config = cls(**data)
        return config.resolve_secrets() if resolve_secrets else config

    @classmethod
    def load(
        cls, source: str | PathLike[str] | Mapping[str, Any] | MeshConfig, *, resolve_secrets: bool = True
    ) -> MeshConfig:
        """A config from a file path, a dict or a ``MeshConfig`` (the three are equivalent)."""
        if isinstance(source, MeshConfig):
            return source.resolve_secrets() if resolve_secrets else source
        if isinstance(source, str | PathLike):
            return cls.from_file(source, resolve_secrets=resolve_secrets)
        if isinstance(source, Mapping):
            return cls.from_dict(source, resolve_secrets=resolve_secrets)
        raise ConfigError(f"config must be a file path, a dict or a MeshConfig, got {type(source).__name__}")

    # -- derived views ----------------------------------------------------------------------------

    def capability_tree(self) -> CapabilityTree:
        """The canonical tree plus this config's custom ``capabilities``."""
        tree = default_tree()
        for dotted_id in sorted(self.capabilities, key=lambda c: c.count(".")):
            tree.add(dotted_id)
        return tree

    def secret_store(self) -> SecretStore:
        """Inline ``secrets.values`` first, then the configured store (called with ``path=`` if set)."""
        factory = registry.SECRET_STORES.get(self.secrets.store, path="secrets.store")
        try:
            store = factory(path=self.secrets.path) if self.secrets.path else factory()
        except ConfigError as exc:
            raise ConfigError(str(exc), path="secrets.path") from None
        return ChainSecretStore(MappingSecretStore(self.secrets.values), store)

    def resolve_secrets(self, store: SecretStore | None = None) -> MeshConfig:
        """A copy with every ``${secrets:NAME}`` replaced (self if there were none).

        Raises one ``ConfigError`` naming each field path and secret name that could not be found.
        """
        store = store or self.secret_store()
        missing: list[tuple[str, str]] = []
        resolved: MeshConfig = resolve_references(self, store, missing, skip=_skip_resolution)
        if missing:
            lines = [
                f"{path}: secret {name!r} not found (checked secrets.values, then {self.secrets.store}"
                f" as {name!r}{'' if env_name(name) == name else ' / ' + repr(env_name(name))})"
                f"{_standard_variable_hint(path)}"
                for path, name in missing
            ]
            raise ConfigError("\n".join(lines))
        _clean_credentials(resolved, literal=False)
        return resolved


# -- cross-field checks ----------------------------------------------------------------------------


def _check_names(config: MeshConfig) -> None:
    """Check names that depend on other sections (providers, custom capabilities); fill defaults.

    Collects every problem so that one load reports all of them.
    """
    errors: list[ConfigError] = []

    def check(path: str, function: Any, *args: Any) -> None:
        try:
            function(*args)
        except ConfigError as exc:
            errors.append(at_path(exc, path))

    def check_provider(path: str, name: str) -> None:
        # No providers section: they are auto-detected at build time, where the builder checks names.
        if config.providers and name not in config.providers:
            errors.append(UnknownNameError("provider", name, config.providers, path=path))

    tree = default_tree()
    for index, dotted_id in sorted(enumerate(config.capabilities), key=lambda item: item[1].count(".")):
        check(f"capabilities[{index}]", tree.add, dotted_id)
    presets = catalog.presets()
    for name, provider in config.providers.items():
        if provider.connector is None and provider.instance is None:
            provider.connector = presets[name].connector if name in presets else _DEFAULT_CONNECTOR
    for key, model in config.models.items():
        check_provider(f"models.{key}.provider", model.provider)
        model.id = model.id or key.removeprefix(f"{model.provider}.")
        for index, name in enumerate(model.capabilities):
            check(f"models.{key}.capabilities[{index}]", expand_capabilities, [name], tree)
    for name, pool in config.pools.items():
        pool.capability = pool.capability or name
        check(f"pools.{name}.capability", tree.resolve, pool.capability)
        for field in ("providers", "provider_priority"):
            for index, provider_name in enumerate(getattr(pool, field) or ()):
                check_provider(f"pools.{name}.{field}[{index}]", provider_name)
    if errors:
        raise combine(errors)


def _standard_variable_hint(path: str) -> str:
    """For a provider's missing key: the preset's usual variable, when it is set, as the reference to use."""
    parts = path.split(".")
    preset = catalog.presets().get(parts[1]) if len(parts) > 1 and parts[0] == "providers" else None
    if preset is None or not preset.key_env or not os.environ.get(preset.key_env):
        return ""
    return f"; {preset.key_env} is set: did you mean ${{secrets:{preset.key_env}}}?"


def _clean_credentials(config: MeshConfig, *, literal: bool) -> None:
    """Strip every provider's key and header values, rejecting unusable ones (in place, like defaults).

    Runs on the literal config and again on resolved values, which may come with a newline from a file.
    """
    for name, provider in config.providers.items():
        if not literal and not provider.enabled:
            continue  # not resolved: still its literal, already checked
        if provider.base_url is not None and not references(provider.base_url):
            check_base_url(provider.base_url, f"providers.{name}.base_url")
        if provider.api_key is not None:
            key = provider.api_key.get_secret_value()
            clean = clean_credential(key, f"providers.{name}.api_key", literal=literal)
            if clean != key:
                provider.api_key = SecretStr(clean)
        provider.headers = {
            header: clean_credential(value, f"providers.{name}.headers.{header}", literal=literal)
            for header, value in provider.headers.items()
        }


def _skip_resolution(model: BaseModel, field: str) -> bool:
    # The secrets section is the source of values; a disabled provider needs none of its own.
    if isinstance(model, ProviderConfig):
        return field == "instance" or not model.enabled
    return isinstance(model, MeshConfig) and field == "secrets"
