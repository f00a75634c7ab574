"""Auto-detection: which providers the environment (or ``api_keys``) makes available, as config.

Turns the seed's ``create()`` arguments into a ``MeshConfig`` so that every layer of the convenience API
ends in the same place: ``build_mesh(config)``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from modelmesh.capabilities import PREDEFINED_POOLS, resolve_pool
from modelmesh.errors import NoProvidersError, UnknownNameError
from modelmesh.providers import catalog


def detected_providers(
    environ: Mapping[str, str] | None = None,
    *,
    only: Sequence[str] | None = None,
    api_keys: Mapping[str, str] | None = None,
) -> dict[str, dict[str, Any]]:
    """Provider config sections for every provider with a key (or, keyless, with its host variable set)."""
    environ = os.environ if environ is None else environ
    presets = catalog.presets()
    for name in list(only or []) + list(api_keys or {}):
        if name not in presets:
            raise UnknownNameError(
                "provider", name, presets, path="providers" if name in (only or []) else "api_keys"
            )
    found: dict[str, dict[str, Any]] = {}
    for name, preset in presets.items():
        if only is not None and name not in only:
            continue
        section: dict[str, Any] = {}
        if api_keys is not None:
            if name not in api_keys:
                continue
            section["api_key"] = api_keys[name]
        elif preset.key_env:
            if not environ.get(preset.key_env):
                continue
            section["api_key"] = environ[preset.key_env]
        elif not (preset.base_url_env and environ.get(preset.base_url_env)):
            continue  # a keyless local server is used only when its host is named
        if preset.base_url_env and environ.get(preset.base_url_env):
            # The preset's rule, not the raw value: OLLAMA_HOST=127.0.0.1:11434 means http://.../v1.
            section["base_url"] = preset.base_url_from(environ)
        if preset.discover:
            section["discover"] = True
        found[name] = section
    missing = [name for name in only or [] if name not in found]
    if missing:
        raise NoProvidersError(_missing_message(missing, presets, api_keys))
    if not found:
        raise NoProvidersError()
    return found


def _missing_message(
    missing: Sequence[str], presets: Mapping[str, catalog.ProviderPreset], api_keys: Mapping[str, str] | None
) -> str:
    """Why each provider named in ``providers=`` was not detected, and what would enable it."""
    reasons = []
    for name in missing:
        preset = presets[name]
        if api_keys is not None:
            reasons.append(f"{name}: api_keys has no {name!r} entry")
        elif preset.key_env:
            reasons.append(f"{name}: {preset.key_env} is not set")
        else:
            reasons.append(f"{name}: a local server, used only when {preset.base_url_env} is set")
    return (
        f"providers= names {', '.join(missing)}, not available here ({'; '.join(reasons)}). "
        f"Set the key, pass it in api_keys=, or leave {', '.join(missing)} out of providers=."
    )


def providers_serving(leaves: frozenset[str]) -> dict[str, str]:
    """Known providers whose default models (or discovered ones) serve any of ``leaves``: name -> what
    enables it (its key variable, or its host variable for a local server)."""
    serving: dict[str, str] = {}
    for name, preset in catalog.presets().items():
        if preset.discover:
            able = bool(preset.capabilities & leaves)
        else:
            able = any(m.capabilities & leaves for m in catalog.default_models(name))
        enabler = preset.key_env or preset.base_url_env
        if able and enabler:
            serving[name] = enabler
    return serving


def autodetect_config(
    capabilities: Sequence[str],
    *,
    pool: str | None,
    providers: Sequence[str] | None,
    models: Sequence[str] | None,
    strategy: str,
    api_keys: Mapping[str, str] | None,
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The config dict for create()'s layers 0, 1 and 1b (no explicit config)."""
    if pool is not None and capabilities:
        raise ValueError(
            "Pass either capabilities or pool=, not both: a predefined pool defines its capabilities."
        )
    if pool is None and not capabilities:
        raise ValueError("Specify capabilities, pool, or config")
    pools: dict[str, dict[str, Any]]
    if pool is not None:
        pools = {pool: {"capability": resolve_pool(pool), "strategy": strategy}}
    else:
        pools = {name: {"capability": name, "strategy": strategy} for name in capabilities}
    if models is not None:
        for section in pools.values():
            section["models"] = list(models)
    return {
        "providers": detected_providers(environ, only=providers, api_keys=api_keys),
        "pools": pools,
    }


__all__ = ["PREDEFINED_POOLS", "autodetect_config", "detected_providers", "providers_serving"]
