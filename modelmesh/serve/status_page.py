"""The status page: ``GET /ui`` (one self-contained HTML page) and ``GET /ui/status.json`` (its data).

Owns what the page shows: every pool's models with state, reason and the countdown to their return
(from ``pool_status()``), answers, tokens and cost per model and pool (from ``mesh.usage``), and the
recent failovers the proxy relayed (a bounded in-memory list filled by ``Edge``). The page itself
holds no data and loads without the key (a browser cannot attach a Bearer header to a navigation);
the JSON needs the proxy key like the API, and the page asks for it.
With ``--workers N`` each worker answers with its own figures (``worker_pid`` says which one).
"""

from __future__ import annotations

import os
import time
from collections import deque
from importlib import resources
from typing import TYPE_CHECKING, Any

from modelmesh.serve.replies import Message, Receive, Send, send_json
from modelmesh.usage import UsageTotals

if TYPE_CHECKING:
    from modelmesh.mesh import ModelMesh

RECENT = 50


class RecentFailovers:
    """The last :data:`RECENT` routed answers that needed a failover or failed, newest last."""

    def __init__(self) -> None:
        self.items: deque[dict[str, Any]] = deque(maxlen=RECENT)

    def record(self, status: int, routing: dict[str, str]) -> None:
        failovers = routing.get("failovers", "0")
        if "pool" in routing and (failovers not in ("", "0") or status >= 500 or status == 429):
            self.items.append(
                {
                    "time": round(time.time(), 3),
                    "pool": routing["pool"],
                    "model": routing.get("model"),
                    "attempts": routing.get("attempts"),
                    "failovers": failovers,
                    "status": status,
                }
            )


def usage_data(totals: UsageTotals | None) -> dict[str, Any]:
    totals = totals or UsageTotals()
    return {
        "requests": totals.requests,
        "prompt_tokens": totals.prompt_tokens,
        "completion_tokens": totals.completion_tokens,
        "cost_usd": round(totals.cost_usd, 6),
    }


def status_data(mesh: ModelMesh, recent: RecentFailovers) -> dict[str, Any]:
    by_model, by_pool = dict(mesh.usage.by_model), dict(mesh.usage.by_pool)
    pools = [
        {
            "name": name,
            "capability": mesh.pools[name].capability if name in mesh.pools else None,
            "active": status.active,
            "total": status.total,
            "current_model": status.current_model,
            "strategy": status.strategy,
            "state_degraded": status.state_degraded,
            "usage": usage_data(by_pool.get(name)),
            "models": [
                {
                    "model": m.model,
                    "provider": m.provider,
                    "active": m.active,
                    "reason": m.reason,
                    "back_in_s": m.back_in_s,
                    "usage": usage_data(by_model.get(m.model)),
                }
                for m in status.models
            ],
        }
        for name, status in mesh.pool_status().items()
    ]
    # The pid tells which worker process answered (``--workers N``: each has its own page data).
    return {"pools": pools, "recent_failovers": list(recent.items), "worker_pid": os.getpid()}


class StatusPage:
    """``GET /ui``: the HTML, read once from the package."""

    def __init__(self) -> None:
        self.html = resources.files("modelmesh.serve").joinpath("status.html").read_bytes()

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"text/html; charset=utf-8"),
            (b"content-length", str(len(self.html)).encode()),
            # The page runs only its own inline script and talks only to this origin.
            (
                b"content-security-policy",
                b"default-src 'none'; script-src 'unsafe-inline'; "
                b"style-src 'unsafe-inline'; connect-src 'self'",
            ),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": self.html, "more_body": False})


class StatusData:
    """``GET /ui/status.json``: the page's data (put behind the key guard by the app)."""

    def __init__(self, mesh: ModelMesh, recent: RecentFailovers) -> None:
        self.mesh, self.recent = mesh, recent

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        await send_json(send, 200, status_data(self.mesh, self.recent), {"cache-control": "no-store"})
