"""``create_anthropic()`` / ``create_anthropic_async()``: the real ``anthropic`` SDK clients over the mesh.

``AnthropicMeshClient`` *is* an ``anthropic.Anthropic`` whose HTTP goes through ``MeshTransport``:
``client.messages.create(model="chat-completion", ...)`` is translated to the chat form by the Messages
dialect (``modelmesh.dialects.messages``) and routed like any mesh request, and every type and
exception is the SDK's own. It owns only building the clients (with ``create()``'s configuration
resolution); it needs the ``anthropic`` extra, imported only when this module is.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, cast

from modelmesh.client import DEFAULT_STRATEGY, AsyncSelfClosingHttpClient, SelfClosingHttpClient, _mesh
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


def _options(mesh: ModelMesh | None, http_client: Any, kwargs: dict[str, Any]) -> ModelMesh:
    """Fills the SDK options every mesh client has; returns the mesh (``copy()`` passes only the client)."""
    if mesh is None:
        if http_client is None:
            raise TypeError("AnthropicMeshClient needs a ModelMesh: use modelmesh.create_anthropic(...)")
        mesh = cast(ModelMesh, http_client._transport.mesh)
    kwargs["api_key"] = kwargs.get("api_key") or "modelmesh"
    kwargs["base_url"] = kwargs.get("base_url") or ANTHROPIC_BASE_URL
    kwargs.setdefault("max_retries", 0)  # the mesh retries and fails over; the SDK must not repeat it
    if kwargs.get("timeout") is None:
        kwargs["timeout"] = mesh.default_timeout_s()
    return mesh


class AnthropicMeshClient(anthropic.Anthropic):
    """An ``anthropic.Anthropic`` whose requests are routed by a ``ModelMesh``."""

    def __init__(self, mesh: ModelMesh | None = None, **kwargs: Any) -> None:
        http_client = kwargs.pop("http_client", None)
        self.mesh = _options(mesh, http_client, kwargs)
        if http_client is None:
            http_client = SelfClosingHttpClient(transport=MeshTransport(self.mesh), timeout=None)
        super().__init__(http_client=http_client, **kwargs)

    def pool_status(self) -> dict[str, PoolStatus]:
        return self.mesh.pool_status()

    def __repr__(self) -> str:
        pools, providers = sorted(self.mesh.pools), sorted(self.mesh.providers)
        return f"AnthropicMeshClient(pools={pools}, providers={providers})"


class AsyncAnthropicMeshClient(anthropic.AsyncAnthropic):
    """An ``anthropic.AsyncAnthropic`` whose requests are routed by a ``ModelMesh``."""

    def __init__(self, mesh: ModelMesh | None = None, **kwargs: Any) -> None:
        http_client = kwargs.pop("http_client", None)
        self.mesh = _options(mesh, http_client, kwargs)
        if http_client is None:
            transport = AsyncMeshTransport(self.mesh)
            http_client = AsyncSelfClosingHttpClient(transport=transport, timeout=None)
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
