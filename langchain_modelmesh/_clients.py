"""Where the LangChain classes get their mesh and their OpenAI clients, and how routing facts reach them.

Owns three things: turning the constructor arguments (capabilities, a predefined pool, a config, an
existing client or mesh) into one ``ModelMesh`` and a pool name; building the sync and async
``MeshClient`` twins over that mesh; and capturing the ``x-modelmesh-*`` response headers of the
requests made inside a :func:`capture_routing` block. It does not know about LangChain messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpx2

from modelmesh.builder import build_mesh
from modelmesh.client import (
    AsyncMeshClient,
    AsyncSelfClosingHttpClient,
    MeshClient,
    SelfClosingHttpClient,
    build_config,
)
from modelmesh.config import MeshConfig
from modelmesh.mesh import ModelMesh
from modelmesh.transport import AsyncMeshTransport, MeshTransport

ConfigSource = str | os.PathLike[str] | dict[str, Any] | MeshConfig
MeshSource = MeshClient | AsyncMeshClient | ModelMesh

# Set only while a LangChain call is making its request; the httpx2 response hooks append to it.
_SEEN: ContextVar[list[dict[str, Any]] | None] = ContextVar("modelmesh_routing_seen", default=None)


def mesh_of(source: Any) -> ModelMesh:
    """The ``ModelMesh`` behind a client, a mesh, or anything with a ``.mesh`` (e.g. ``ChatModelMesh``)."""
    if isinstance(source, ModelMesh):
        return source
    mesh = getattr(source, "mesh", None)
    if isinstance(mesh, ModelMesh):
        return mesh
    raise TypeError(
        f"expected a MeshClient, AsyncMeshClient, ModelMesh or ChatModelMesh, got {type(source).__name__}"
    )


def resolve_mesh(
    *,
    mesh_client: MeshSource | None,
    capabilities: Sequence[str] | None,
    pool: str | None,
    config: ConfigSource | None,
    providers: Sequence[str] | None = None,
    strategy: str | None = None,
) -> ModelMesh:
    """One mesh from the constructor arguments: an existing client wins, else ``create()``'s rules."""
    if mesh_client is not None:
        if capabilities or pool is not None or config is not None:
            raise ValueError("pass either mesh_client or capabilities/pool/config, not both")
        return mesh_of(mesh_client)
    options: dict[str, Any] = {"pool": pool, "providers": providers, "config": config}
    if strategy is not None:
        options["strategy"] = strategy
    return build_mesh(build_config(list(capabilities or ()), **options))


def secret_safe_config(config: Any) -> Any:
    """A config dict as a ``MeshConfig`` (unresolved), whose repr and dumps never show a secret.

    The LangChain classes keep their ``config`` argument as a field, and LangChain shows fields in
    reprs, ``dumpd`` and callback payloads; a plain dict there would carry a literal key along.
    """
    if isinstance(config, Mapping):
        return MeshConfig.load(config, resolve_secrets=False)
    return config


def pool_name(mesh: ModelMesh, requested: str | None, capabilities: Sequence[str] | None) -> str:
    """The pool a model talks to: the one asked for, else the first capability, else the only pool."""
    if requested:
        return requested
    if capabilities:
        return capabilities[0]
    if len(mesh.pools) == 1:
        return next(iter(mesh.pools))
    raise ValueError(f"this mesh has several pools ({', '.join(sorted(mesh.pools))}): pass model=<pool name>")


def mesh_clients(mesh: ModelMesh, **options: Any) -> tuple[MeshClient, AsyncMeshClient]:
    """Sync and async clients sharing ``mesh`` (so its routing state), with the routing-facts hooks.

    Fresh clients rather than a caller's: the hooks must sit on the HTTP client, and one a caller
    built may be in use elsewhere.
    """
    sync_http = SelfClosingHttpClient(
        transport=MeshTransport(mesh), timeout=None, event_hooks={"response": [_record]}
    )
    async_http = AsyncSelfClosingHttpClient(
        transport=AsyncMeshTransport(mesh),
        timeout=None,
        event_hooks={"response": [_arecord]},
    )
    return MeshClient(mesh, http_client=sync_http, **options), AsyncMeshClient(
        mesh, http_client=async_http, **options
    )


def routing_facts(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """``{"pool", "provider", "attempts", "failovers"}`` from a routed response's headers."""
    pool = headers.get("x-modelmesh-pool")
    provider = headers.get("x-modelmesh-provider")
    if pool is None or provider is None:
        return None  # not routed, or the pool was exhausted (the SDK raises for that)
    return {
        "pool": pool,
        "provider": provider,
        "attempts": _int(headers.get("x-modelmesh-attempts")),
        "failovers": _int(headers.get("x-modelmesh-failovers")),
    }


@contextmanager
def capture_routing() -> Iterator[list[dict[str, Any]]]:
    """Collect the routing facts of the requests made in this block (same thread or task)."""
    seen: list[dict[str, Any]] = []
    token = _SEEN.set(seen)
    try:
        yield seen
    finally:
        _SEEN.reset(token)


def _record(response: httpx2.Response) -> None:
    seen = _SEEN.get()
    if seen is not None:
        facts = routing_facts(response.headers)
        if facts is not None:
            seen.append(facts)


async def _arecord(response: httpx2.Response) -> None:
    _record(response)


def _int(value: str | None) -> int:
    try:
        return int(value or 0)
    except ValueError:
        return 0
