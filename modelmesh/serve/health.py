"""Health endpoints: ``/health`` (a summary, always 200), ``/health/live`` and ``/health/ready``.

Owns what "alive" and "ready" mean for the proxy: live while the process answers; ready while every
pool has at least one active model (from ``mesh.pool_status()``), else 503 so a load balancer sends
traffic to a replica that can answer. None of them needs the proxy key (probes carry none) and none
names a provider's error text. It deliberately reads status only, never changes it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from modelmesh.mesh import ModelMesh, PoolStatus

Endpoint = Callable[[Request], Awaitable[Response]]


def health_summary(mesh: ModelMesh) -> dict[str, Any]:
    """``GET /health``: ``ok`` when every pool has an active model and the state store answers, else
    ``degraded`` (still 200: routing goes on, on local state or with fewer models)."""
    statuses = mesh.pool_status()
    pools = {
        name: {
            "active": status.active,
            "standby": status.standby,
            "total": status.total,
            "current_model": status.current_model,
        }
        for name, status in statuses.items()
    }
    state_degraded = any(status.state_degraded for status in statuses.values())
    degraded = state_degraded or any(pool["active"] == 0 for pool in pools.values())
    state = "degraded: routing on local state" if state_degraded else "ok"
    return {"status": "degraded" if degraded else "ok", "state": state, "pools": pools}


async def pool_status(mesh: ModelMesh) -> dict[str, PoolStatus]:
    """``mesh.pool_status()`` off the event loop when the state store does blocking I/O."""
    if mesh.store_blocks:
        return await asyncio.to_thread(mesh.pool_status)
    return mesh.pool_status()


def summary_endpoint(mesh: ModelMesh) -> Endpoint:
    async def summary(request: Request) -> Response:
        if mesh.store_blocks:
            return JSONResponse(await asyncio.to_thread(health_summary, mesh))
        return JSONResponse(health_summary(mesh))

    return summary


async def live(request: Request) -> Response:
    return JSONResponse({"status": "live"})


def ready_endpoint(mesh: ModelMesh) -> Endpoint:
    async def ready(request: Request) -> Response:
        down = sorted(name for name, status in (await pool_status(mesh)).items() if status.active == 0)
        if down:
            return JSONResponse({"status": "not_ready", "pools_without_active_model": down}, status_code=503)
        return JSONResponse({"status": "ready"})

    return ready
