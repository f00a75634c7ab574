"""``MeshClient`` / ``AsyncMeshClient`` (the real OpenAI clients over a routing transport) and ``create()``.

The clients add only the ModelMesh extras; every OpenAI method, type and exception is the SDK's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import httpx2
import openai

from modelmesh.builder import build_mesh
from modelmesh.capabilities import PREDEFINED_POOLS
from modelmesh.config import MeshConfig
from modelmesh.mesh import ModelMesh, PoolStatus
from modelmesh.providers.detect import autodetect_config, detected_providers
from modelmesh.transport import AsyncMeshTransport, MeshTransport

if TYPE_CHECKING:
    from modelmesh.usage import UsageLedger

MESH_BASE_URL = "http://modelmesh.local/v1"  # never resolved: the transport answers every request
DEFAULT_STRATEGY = "stick-until-failure"


class SelfClosingHttpClient(httpx2.Client):
    """Closes its pooled connections when the client is garbage-collected (users rarely close clients)."""

    def __del__(self) -> None:
        if not self.is_closed:
            with contextlib.suppress(Exception):
                self.close()


class AsyncSelfClosingHttpClient(httpx2.AsyncClient):
    """The async twin; it can close only while an event loop is running."""

    def __del__(self) -> None:
        if not self.is_closed:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().create_task(self.aclose())


class _MeshExtras:
    """The ModelMesh-specific methods shared by the sync and async clients."""

    _mesh: ModelMesh

    @property
    def mesh(self) -> ModelMesh:
        return self._mesh

    @property
    def usage(self) -> UsageLedger:
        return self._mesh.usage

    def pool_status(self) -> dict[str, PoolStatus]:
        return self._mesh.pool_status()

    def active_providers(self) -> list[str]:
        return self._mesh.active_providers()

    def rotate(self, pool: str) -> str | None:
        return self._mesh.rotate(pool)

    def __repr__(self) -> str:
        mesh = self._mesh
        return f"{type(self).__name__}(pools={sorted(mesh.pools)}, providers={sorted(mesh.providers)})"


def _sdk_options(mesh: ModelMesh | None, http_client: Any, kwargs: dict[str, Any]) -> ModelMesh:
    """Fills the SDK options every mesh client has; returns the mesh (``copy()`` passes only the client).

    The SDK's ``timeout`` is the whole request's deadline (the pool's ``timeouts.total_s`` caps it too);
    left unset, it is the longest ``total_s`` of the pools, so ``client.timeout`` says what applies."""
    mesh = mesh or http_client._transport.mesh
    kwargs["api_key"] = kwargs.get("api_key") or "modelmesh"
    kwargs["base_url"] = kwargs.get("base_url") or MESH_BASE_URL
    kwargs.setdefault("max_retries", 0)  # the mesh retries and fails over; the SDK must not repeat it
    if kwargs.get("timeout") is None:
        kwargs["timeout"] = mesh.default_timeout_s()
    return mesh


class MeshClient(_MeshExtras, openai.OpenAI):
    """An ``openai.OpenAI`` whose requests are routed by a ``ModelMesh``."""

    def __init__(self, mesh: ModelMesh | None = None, **kwargs: Any) -> None:
        http_client = kwargs.pop("http_client", None)
        if http_client is None:
            if mesh is None:
                raise TypeError("MeshClient needs a ModelMesh: use modelmesh.create(...) to build one")
            http_client = SelfClosingHttpClient(transport=MeshTransport(mesh), timeout=None)
        self._mesh = _sdk_options(mesh, http_client, kwargs)
        super().__init__(http_client=http_client, **kwargs)


class AsyncMeshClient(_MeshExtras, openai.AsyncOpenAI):
    """An ``openai.AsyncOpenAI`` whose requests are routed by a ``ModelMesh``."""

    def __init__(self, mesh: ModelMesh | None = None, **kwargs: Any) -> None:
        http_client = kwargs.pop("http_client", None)
        if http_client is None:
            if mesh is None:
                raise TypeError("AsyncMeshClient needs a ModelMesh: use modelmesh.create_async(...)")
            http_client = AsyncSelfClosingHttpClient(transport=AsyncMeshTransport(mesh), timeout=None)
        self._mesh = _sdk_options(mesh, http_client, kwargs)
        super().__init__(http_client=http_client, **kwargs)


def build_config(
    capabilities: Sequence[str],
    *,
    pool: str | None = None,
    providers: Sequence[str] | None = None,
    models: Sequence[str] | None = None,
    strategy: str = DEFAULT_STRATEGY,
    api_keys: Mapping[str, str] | None = None,
    config: str | os.PathLike[str] | dict[str, Any] | MeshConfig | None = None,
    environ: Mapping[str, str] | None = None,
) -> MeshConfig:
    """The seed's resolution order: config, then pool, then capabilities, else ValueError."""
    if config is None:
        return MeshConfig.from_dict(
            autodetect_config(
                capabilities,
                pool=pool,
                providers=providers,
                models=models,
                strategy=strategy,
                api_keys=api_keys,
                environ=environ,
            )
        )
    loaded = MeshConfig.load(config)
    updates: dict[str, Any] = {}
    if not loaded.providers:
        detected = detected_providers(environ, api_keys=api_keys)
        updates["providers"] = MeshConfig.from_dict({"providers": detected}).providers
    if not loaded.pools:
        if not capabilities and pool is None:
            raise ValueError("Specify capabilities, pool, or config (the config has no pools)")
        names = [pool] if pool is not None else list(capabilities)
        pools = {n: {"capability": PREDEFINED_POOLS.get(n, n), "strategy": strategy} for n in names}
        updates["pools"] = MeshConfig.from_dict({"pools": pools}).pools
    if strategy != DEFAULT_STRATEGY:
        pools_source = updates.get("pools", loaded.pools)
        updates["pools"] = {n: p.model_copy(update={"strategy": strategy}) for n, p in pools_source.items()}
    return loaded.model_copy(update=updates) if updates else loaded


def create(
    *capabilities: str,
    pool: str | None = None,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    strategy: str = DEFAULT_STRATEGY,
    api_keys: dict[str, str] | None = None,
    config: str | os.PathLike[str] | dict[str, Any] | MeshConfig | None = None,
) -> MeshClient:
    """A ``MeshClient`` routing the given capabilities (or predefined ``pool``, or full ``config``)."""
    return MeshClient(_mesh(capabilities, pool, providers, models, strategy, api_keys, config))


def create_async(
    *capabilities: str,
    pool: str | None = None,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    strategy: str = DEFAULT_STRATEGY,
    api_keys: dict[str, str] | None = None,
    config: str | os.PathLike[str] | dict[str, Any] | MeshConfig | None = None,
) -> AsyncMeshClient:
    """Like ``create()``, returning an ``AsyncMeshClient`` (mirrors ``openai.AsyncOpenAI``)."""
    return AsyncMeshClient(_mesh(capabilities, pool, providers, models, strategy, api_keys, config))


def _mesh(
    capabilities: Sequence[str],
    pool: str | None,
    providers: list[str] | None,
    models: list[str] | None,
    strategy: str,
    api_keys: dict[str, str] | None,
    config: str | os.PathLike[str] | dict[str, Any] | MeshConfig | None,
) -> ModelMesh:
    options = build_config(
        capabilities,
        pool=pool,
        providers=providers,
        models=models,
        strategy=strategy,
        api_keys=api_keys,
        config=config,
    )
    return build_mesh(options)
