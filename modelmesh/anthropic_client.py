"""``create_anthropic()`` / ``create_anthropic_async()``: the real ``anthropic`` SDK clients over the mesh.

``AnthropicMeshClient`` *is* an ``anthropic.Anthropic`` whose HTTP goes through ``MeshTransport``:
``client.messages.create(model="chat-completion", ...)`` is translated to the chat form by the Messages
dialect (``modelmesh.dialects.messages``) and routed like any mesh request, and every type and
exception is the SDK's own. It owns only building the clients (with ``create()``'s configuration
resolution); it needs the ``anthropic`` extra, imported only when this module is.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import httpx2

from modelmesh.client import DEFAULT_STRATEGY, _mesh
from modelmesh.config import MeshConfig
from modelmesh.mesh import ModelMesh
from modelmesh.transport import AsyncMeshTransport, MeshTransport

try:
    import anthropic
except ImportError as exc:  # pragma: no cover - the `anthropic` extra
    raise ImportError(
        "create_anthropic() needs the anthropic SDK: pip install 'modelmesh[anthropic]'"
    ) from exc

if TYPE_CHECKING:
    from modelmesh.mesh import PoolStatus

ANTHROPIC_BASE_URL = "http://modelmesh.local"  # never resolved: the transport answers every request


def _options(mesh: ModelMesh, kwargs: dict[str, Any]) -> None:
    kwargs["api_key"] = kwargs.get("api_key") or "modelmesh"
    kwargs["base_url"] = kwargs.get("base_url") or ANTHROPIC_BASE_URL
    kwargs.setdefault("max_retries", 0)  # the mesh retries and fails over; the SDK must not repeat it
    if kwargs.get("timeout") is None:
        kwargs["timeout"] = mesh.default_timeout_s()


class AnthropicMeshClient(anthropic.Anthropic):
    """An ``anthropic.Anthropic`` whose requests are routed by a ``ModelMesh``."""

    def __init__(self, mesh: ModelMesh, **kwargs: Any) -> None:
        self.mesh = mesh
        _options(mesh, kwargs)
        http_client = kwargs.pop("http_client", None) or httpx2.Client(
            transport=MeshTransport(mesh), timeout=None
        )
        super().__init__(http_client=http_client, **kwargs)

    def pool_status(self) -> dict[str, PoolStatus]:
        return self.mesh.pool_status()

    def __repr__(self) -> str:
        return (
            f"AnthropicMeshClient(pools={sorted(self.mesh.pools)}, providers={sorted(self.mesh.providers)})"
        )


class AsyncAnthropicMeshClient(anthropic.AsyncAnthropic):
    """An ``anthropic.AsyncAnthropic`` whose requests are routed by a ``ModelMesh``."""

    def __init__(self, mesh: ModelMesh, **kwargs: Any) -> None:
        self.mesh = mesh
        _options(mesh, kwargs)
        http_client = kwargs.pop("http_client", None) or httpx2.AsyncClient(
            transport=AsyncMeshTransport(mesh), timeout=None
        )
        super().__init__(http_client=http_client, **kwargs)

    def pool_status(self) -> dict[str, PoolStatus]:
        return self.mesh.pool_status()

    def __repr__(self) -> str:
        pools, providers = sorted(self.mesh.pools), sorted(self.mesh.providers)
        return f"AsyncAnthropicMeshClient(pools={pools}, providers={providers})"


def create_anthropic(
    *capabilities: str,
    pool: str | None = None,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    strategy: str = DEFAULT_STRATEGY,
    api_keys: dict[str, str] | None = None,
    config: str | os.PathLike[str] | dict[str, Any] | MeshConfig | None = None,
) -> AnthropicMeshClient:
    """Like ``create()``, returning an ``anthropic.Anthropic`` routed by the mesh."""
    return AnthropicMeshClient(_mesh(capabilities, pool, providers, models, strategy, api_keys, config))


def create_anthropic_async(
    *capabilities: str,
    pool: str | None = None,
    providers: list[str] | None = None,
    models: list[str] | None = None,
    strategy: str = DEFAULT_STRATEGY,
    api_keys: dict[str, str] | None = None,
    config: str | os.PathLike[str] | dict[str, Any] | MeshConfig | None = None,
) -> AsyncAnthropicMeshClient:
    """Like ``create_async()``, returning an ``anthropic.AsyncAnthropic`` routed by the mesh."""
    return AsyncAnthropicMeshClient(_mesh(capabilities, pool, providers, models, strategy, api_keys, config))
