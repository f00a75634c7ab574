"""Builds a running ``ModelMesh`` from a ``MeshConfig``: providers, their models, pools, state, outputs.

All name checking that needs the whole picture happens here (a pool naming a provider that does not
exist, a model filter matching nothing), so every mistake is reported with its config path.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from modelmesh.capabilities import CapabilityTree, expand_capabilities
from modelmesh.errors import ConfigError, UnknownNameError
from modelmesh.mesh import ModelMesh
from modelmesh.providers import catalog
from modelmesh.providers.detect import providers_serving
from modelmesh.providers.discovery import discover_models, model_spec_for
from modelmesh.quotas import build_quota_book
from modelmesh.registry import CONNECTORS, OBSERVABILITY, STATE_STORES, STRATEGIES
from modelmesh.routing.pool import Pool
from modelmesh.state.base import StateStore
from modelmesh.state.guarded import GuardedStore
from modelmesh.state.memory import MemoryStateStore
from modelmesh.state.replica import ReplicaStore
from modelmesh.types import ModelSpec, ProviderEndpoint

if TYPE_CHECKING:
    from modelmesh.config import MeshConfig, ProviderConfig


def build_mesh(
    config: MeshConfig,
    *,
    environ: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
) -> ModelMesh:
    environ = os.environ if environ is None else environ
    config = config.resolve_secrets()
    tree = config.capability_tree()
    providers: dict[str, ProviderEndpoint] = {}
    connectors: dict[str, Any] = {}
    models: dict[str, ModelSpec] = {}
    for name, provider_config in config.providers.items():
        if not provider_config.enabled:
            continue
        endpoint, specs = _provider(name, provider_config, tree, environ)
        providers[name] = endpoint
        connectors[name] = CONNECTORS.get(endpoint.connector_id, path=f"providers.{name}.connector")()
        for spec in specs:
            models[spec.key] = spec
    for key, model_config in config.models.items():
        if model_config.provider not in providers:
            if model_config.provider in config.providers:
                continue  # its provider is disabled
            raise UnknownNameError(
                "provider", model_config.provider, providers, path=f"models.{key}.provider"
            )
        spec = catalog.model_spec_from_config(key, model_config, tree)
        models[spec.key] = spec
    if not config.pools:
        raise ConfigError(
            "no pools configured: add a `pools` section or pass capabilities to create()", path="pools"
        )
    pools = {
        name: _pool(name, pool_config, list(models.values()), providers, tree, environ)
        for name, pool_config in config.pools.items()
    }
    store_cls = STATE_STORES.get(config.storage.store, path="storage.store")
    options = _store_options(config)
    if store_cls is MemoryStateStore:
        store: StateStore = store_cls(**options)
    else:  # a fault in a persistent store degrades routing to local state instead of failing requests
        store = GuardedStore(lambda: store_cls(**options), name=config.storage.store)
        if hasattr(store_cls, "changes"):  # it can say what changed: routing reads a replica (ADR 0006)
            store = ReplicaStore(store)
    observer = OBSERVABILITY.get(config.observability.connector, path="observability.connector")(
        path=config.observability.path, **config.observability.options
    )
    describe = getattr(observer, "describe_pools", None)
    if callable(describe):  # optional hook: outputs that label by capability (OpenTelemetry's operation)
        describe({name: pool.capability for name, pool in pools.items()})
    strategies = {name: STRATEGIES.canonical(p.strategy) for name, p in config.pools.items()}
    quotas = build_quota_book(config, models.values())
    return ModelMesh(
        pools=pools,
        providers=providers,
        connectors=connectors,
        store=store,
        observer=observer,
        clock=clock,
        rng=rng,
        strategies=strategies,
        quotas=quotas,
    )


def _provider(
    name: str, config: ProviderConfig, tree: CapabilityTree, environ: Mapping[str, str]
) -> tuple[ProviderEndpoint, list[ModelSpec]]:
    if config.instance is not None:
        instance = config.instance
        return instance.endpoint(name), list(instance.model_specs(name, tree))
    preset = catalog.presets().get(name)
    connector = config.connector or (preset.connector if preset else "openai.compatible.v1")
    CONNECTORS.canonical(connector, path=f"providers.{name}.connector")
    base_url = config.base_url or (preset.base_url_from(environ) if preset else None)
    if not base_url:
        raise ConfigError(
            f"provider {name!r} is not a known preset, so it needs a base_url",
            path=f"providers.{name}.base_url",
        )
    endpoint = ProviderEndpoint(name, connector, base_url, config.api_key, dict(config.headers))
    defaults = catalog.default_models(name) if preset else []
    if config.models is None:
        specs = defaults
    else:
        by_id = {m.id: m for m in defaults}
        groups = preset.capabilities if preset else expand_capabilities("chat", tree)
        specs = [by_id.get(i) or model_spec_for(i, name, groups) for i in config.models]
    if config.discover:
        known = {m.id for m in specs}
        groups = preset.capabilities if preset else expand_capabilities("chat", tree)
        specs += [model_spec_for(i, name, groups) for i in discover_models(endpoint) if i not in known]
    return endpoint, specs


def _pool(
    name: str,
    config: Any,
    models: list[ModelSpec],
    providers: dict[str, ProviderEndpoint],
    tree: CapabilityTree,
    environ: Mapping[str, str],
) -> Pool:
    path = f"pools.{name}"
    try:
        capability = tree.resolve(config.capability or name)
    except UnknownNameError as exc:
        raise UnknownNameError("capability", exc.name, exc.valid, path=f"{path}.capability") from None
    leaves = tree.leaves_under(capability)
    members = [m for m in models if m.capabilities & leaves]
    if config.providers is not None:
        for provider in config.providers:
            if provider not in providers:
                raise UnknownNameError("provider", provider, providers, path=f"{path}.providers")
        members = [m for m in members if m.provider in config.providers]
    if not members:
        raise _unserved(name, config, capability, leaves, providers, environ)
    if config.models is not None:
        members = _by_priority(members, list(config.models), path)
    policy_cls = STRATEGIES.get(config.strategy, path=f"{path}.strategy")
    return Pool(name, capability, members, config, policy_cls(config))


def _by_priority(members: list[ModelSpec], wanted: list[str], path: str) -> list[ModelSpec]:
    """The members a ``models`` filter names, in the filter's order: that order is the pool's priority."""
    rank = {name: index for index, name in enumerate(wanted)}
    chosen = [m for m in members if m.id in rank or m.key in rank]
    if not chosen:  # a filter may name models of other pools too; it must match one of this pool's
        raise UnknownNameError("model", wanted[0], sorted({m.id for m in members}), path=f"{path}.models")
    return sorted(chosen, key=lambda m: min(rank.get(m.key, len(rank)), rank.get(m.id, len(rank))))


def _unserved(
    name: str,
    config: Any,
    capability: str,
    leaves: frozenset[str],
    providers: Mapping[str, Any],
    environ: Mapping[str, str],
) -> ConfigError:
    """The error for a pool no configured model serves: what was detected, and what would serve it."""
    short = capability.rsplit(".", 1)[-1]
    considered = list(config.providers) if config.providers is not None else list(providers)
    serving = providers_serving(leaves)
    able = [p for p in serving if p in providers and p not in considered]
    hint = f" {', '.join(able)} serves it: add it to pools.{name}.providers." if able else ""
    others = [
        f"{p} ({env} is set, but {p} is left out)" if environ.get(env) else f"{p} (set {env})"
        for p, env in serving.items()
        if p not in providers
    ]
    if others:
        hint += f" Providers that serve it: {', '.join(others)}."
    return ConfigError(
        f"no model serves {short!r}: the providers considered ({', '.join(considered) or 'none'}) "
        f"offer no {short} model.{hint}",
        path=f"pools.{name}",
    )


def _store_options(config: MeshConfig) -> dict[str, Any]:
    storage = config.storage
    options: dict[str, Any] = {"prefix": storage.prefix}
    if storage.path:
        options["path"] = storage.path
    if storage.url is not None:
        options["url"] = storage.url.get_secret_value()
    return options
