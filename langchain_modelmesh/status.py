"""Pool health as plain data, shared by the agent tools and the LangGraph nodes.

``describe_pool`` turns a ``PoolStatus`` into a JSON-able dict (what a tool returns to a model and
what a graph keeps in its state); ``needs_rotation`` is the one judgement made here: the provider
serving the pool already has a model on standby while another provider is healthy. It does not
change any routing state; ``ModelMesh.rotate`` does that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelmesh.mesh import ModelMesh, ModelStatus, PoolStatus


def describe_pool(status: PoolStatus) -> dict[str, Any]:
    """``{pool, active, standby, total, current_model, current_provider, strategy, degraded, models}``."""
    current = next((m for m in status.models if m.active and _id(m) == status.current_model), None)
    return {
        "pool": status.name,
        "active": status.active,
        "standby": status.standby,
        "total": status.total,
        "current_model": status.current_model,
        "current_provider": current.provider if current else None,
        "strategy": status.strategy,
        "degraded": status.standby > 0,
        "models": [
            {
                "model": m.model,
                "provider": m.provider,
                "active": m.active,
                "reason": m.reason,
                "back_in_s": m.back_in_s,
            }
            for m in status.models
        ],
    }


def describe_pools(mesh: ModelMesh, pools: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """``describe_pool`` for the named pools (all when None); an unknown name raises ``UnknownNameError``."""
    statuses = mesh.pool_status()
    names = list(statuses) if pools is None else pools
    for name in names:
        mesh.pool(name)  # raises with the valid names
    return {name: describe_pool(statuses[name]) for name in names}


def needs_rotation(pool: Mapping[str, Any]) -> bool:
    """True when the current model's provider has a model on standby and another provider is healthy.

    A provider failing on one model often fails on its others too: moving on before the next request
    saves the attempt that would find out. A pool whose current provider is healthy is left alone.
    """
    provider = pool.get("current_provider")
    models = pool.get("models") or []
    if provider is None:
        return False
    provider_hurt = any(m["provider"] == provider and not m["active"] for m in models)
    elsewhere = any(m["provider"] != provider and m["active"] for m in models)
    return provider_hurt and elsewhere


def sole_pool(mesh: ModelMesh, pool: str | None) -> str:
    """``pool``, or the mesh's only pool; a clear error listing the pools otherwise."""
    if pool:
        mesh.pool(pool)
        return pool
    if len(mesh.pools) == 1:
        return next(iter(mesh.pools))
    raise ValueError(f"name a pool: this mesh has {', '.join(sorted(mesh.pools))}")


def rotate_pool(mesh: ModelMesh, pool: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Rotate ``pool``; returns ``({pool, from, to, to_provider, rotated[, note]}, describe_pool(after))``.

    ``rotated`` is False when no other model was active: the mesh kept the current one (``note`` says so).
    """
    before = mesh.pool_status()[pool].current_model
    chosen = mesh.rotate(pool)
    after = describe_pool(mesh.pool_status()[pool])
    record: dict[str, Any] = {
        "pool": pool,
        "from": before,
        "to": chosen,
        "to_provider": after["current_provider"],
    }
    record["rotated"] = chosen is not None and chosen != before
    if not record["rotated"]:
        kept = f"; kept {chosen}" if chosen else ""
        record["note"] = f"no {'other ' if chosen else ''}active model in pool {pool!r}{kept}"
    return record, after


def _id(model: ModelStatus) -> str:
    """``openai.gpt-4o`` -> ``gpt-4o``: status keys are ``provider.id``, ``current_model`` the bare id."""
    return model.model.removeprefix(f"{model.provider}.")
