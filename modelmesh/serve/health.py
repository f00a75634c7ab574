"""Health endpoints: ``/health`` (a summary, always 200), ``/health/live`` and ``/health/ready``.

Owns what "alive" and "ready" mean for the proxy: live while the process answers; ready while every
pool has at least one active model (from ``mesh.pool_status()``), else 503 so a load balancer sends
traffic to a replica that can answer. None of them needs the proxy key (probes carry none) and none
names a provider's error text. It deliberately reads status only, never changes it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from modelmesh.mesh import ModelMesh

Endpoint = Callable[[Request], Awaitable[Response]]


def health_summary(mesh: ModelMesh) -> dict[str, Any]:
    """``GET /health``: ``ok`` when every pool has an active model, else ``degraded`` (still 200)."""
    pools = {
        name: {
            "active": status.active,
            "standby": status.standby,
            "total": status.total,
            "current_model": status.current_model,
        }
        for name, status in mesh.pool_status().items()
    }
    degraded = any(pool["active"] == 0 for pool in pools.values())
    return {"status": "degraded" if degraded else "ok", "pools": pools}


def summary_endpoint(mesh: ModelMesh) -> Endpoint:
    async def summary(request: Request) -> Response:
        return JSONResponse(health_summary(mesh))

    return summary


async def live(request: Request) -> Response:
    return JSONResponse({"status": "live"})


def ready_endpoint(mesh: ModelMesh) -> Endpoint:
    async def ready(request: Request) -> Response:
        down = sorted(name for name, status in mesh.pool_status().items() if status.active == 0)
        if down:
            return JSONResponse({"status": "not_ready", "pools_without_active_model": down}, status_code=503)
        return JSONResponse({"status": "ready"})

    return ready
