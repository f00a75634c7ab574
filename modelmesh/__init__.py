"""ModelMesh: capability-driven routing with retry, rotation and failover, under the real OpenAI SDK.

    from modelmesh import create
    client = create("chat-completion")
    r = client.chat.completions.create(model="chat-completion", messages=[...])
    r.model   # the real model that answered

Names are imported lazily so that ``import modelmesh`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "create": "modelmesh.client",
    "create_async": "modelmesh.client",
    "MeshClient": "modelmesh.client",
    "AsyncMeshClient": "modelmesh.client",
    "create_anthropic": "modelmesh.anthropic_client",
    "create_anthropic_async": "modelmesh.anthropic_client",
    "AnthropicMeshClient": "modelmesh.anthropic_client",
    "AsyncAnthropicMeshClient": "modelmesh.anthropic_client",
    "MeshConfig": "modelmesh.config",
    "ModelMesh": "modelmesh.mesh",
    "PoolStatus": "modelmesh.mesh",
    "ConfigError": "modelmesh.errors",
    "ModelMeshError": "modelmesh.errors",
    "NoProvidersError": "modelmesh.errors",
    "UnknownNameError": "modelmesh.errors",
    "StreamInterruptedError": "modelmesh.engine.exchange",
    "ModelSpec": "modelmesh.types",
}

__all__ = [  # noqa: RUF022  (grouped as in _EXPORTS)
    "__version__",
    "create",
    "create_async",
    "MeshClient",
    "AsyncMeshClient",
    "create_anthropic",
    "create_anthropic_async",
    "AnthropicMeshClient",
    "AsyncAnthropicMeshClient",
    "MeshConfig",
    "ModelMesh",
    "PoolStatus",
    "ConfigError",
    "ModelMeshError",
    "NoProvidersError",
    "UnknownNameError",
    "StreamInterruptedError",
    "ModelSpec",
]

if TYPE_CHECKING:
    from modelmesh.anthropic_client import (
        AnthropicMeshClient,
        AsyncAnthropicMeshClient,
        create_anthropic,
        create_anthropic_async,
    )
    from modelmesh.client import AsyncMeshClient, MeshClient, create, create_async
    from modelmesh.config import MeshConfig
    from modelmesh.engine.exchange import StreamInterruptedError
    from modelmesh.errors import ConfigError, ModelMeshError, NoProvidersError, UnknownNameError
    from modelmesh.mesh import ModelMesh, PoolStatus
    from modelmesh.types import ModelSpec


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'modelmesh' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
