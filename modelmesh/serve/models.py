"""Pools as models for proxy clients: ``GET /v1/models`` lists every pool, ``/v1/models/{pool}`` answers it.

UIs offer what ``/v1/models`` lists; if it listed only real models, a user would pick ``gpt-4o`` and lose
failover. So the proxy lists pools first (``owned_by: "modelmesh"``, with capability and active/total
counts), then the real models the mesh lists. With ``pools_only`` it lists pools alone and refuses any
other ``model``. It deliberately leaves ``MeshClient.models.list()`` (the mesh's own answer) unchanged.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from modelmesh.serve.replies import RequestRefused

if TYPE_CHECKING:
    from modelmesh.mesh import ModelMesh


def pool_cards(mesh: ModelMesh) -> list[dict[str, Any]]:
    statuses = mesh.pool_status()
    return [
        {
            "id": name,
            "object": "model",
            "created": 0,
            "owned_by": "modelmesh",
            "capability": pool.capability,
            "active": statuses[name].active if name in statuses else 0,
            "total": statuses[name].total if name in statuses else len(pool.models),
        }
        for name, pool in mesh.pools.items()
    ]


def listing(mesh: ModelMesh, real_models: bytes | None) -> dict[str, Any]:
    """The ``/v1/models`` list: pools, then the mesh's real models (none with ``pools_only``)."""
    data = pool_cards(mesh)
    if real_models is not None:
        pools = {card["id"] for card in data}
        try:
            listed = json.loads(real_models).get("data", [])
        except (ValueError, AttributeError):
            listed = []
        data += [m for m in listed if isinstance(m, dict) and m.get("id") not in pools]
    return {"object": "list", "data": data}


def pool_card(mesh: ModelMesh, name: str) -> dict[str, Any] | None:
    return next((card for card in pool_cards(mesh) if card["id"] == name), None)


def require_pool(mesh: ModelMesh, name: object) -> None:
    """``pools_only``: a request must name a pool, so no client can bypass routing with a real model id."""
    if isinstance(name, str) and name in mesh.pools:
        return
    pools = ", ".join(sorted(mesh.pools)) or "(none)"
    raise RequestRefused(
        404,
        f"Unknown model {name!r}: this proxy routes by pool name only. Valid pools: {pools}.",
        "model_not_found",
    )
