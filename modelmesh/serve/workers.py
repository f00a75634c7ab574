"""``modelmesh serve --workers N``: what each worker process builds, and the shared-store rule.

Owns the picklable recipe a worker process receives (where the mesh config comes from, the proxy
settings) and the app it builds from it: its own mesh, closed when the worker's server shuts down.
Workers share routing state only through the configured store, so N > 1 refuses the in-memory store
(each worker would keep its own health and rotation). It deliberately starts no process: uvicorn's
supervisor does (see ``runner.serve_workers``).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING

from uvicorn.config import STARTUP_FAILURE  # this exit code stops uvicorn's supervisor (no restart)

from modelmesh.registry import STATE_STORES
from modelmesh.serve.edge import ASGIApp, Message, Receive, Send, configure_access_log
from modelmesh.serve.settings import ProxySettings

if TYPE_CHECKING:
    from modelmesh.config import MeshConfig
    from modelmesh.mesh import ModelMesh

IN_MEMORY = "modelmesh.memory.v1"
logger = logging.getLogger("modelmesh.serve")


def check_shared_store(config: MeshConfig, workers: int) -> None:
    """Several workers need a store they all see; the in-memory one is private to each process."""
    if workers > 1 and STATE_STORES.canonical(config.storage.store) == IN_MEMORY:
        raise ValueError(
            f"--workers {workers} needs a shared state store, but the config uses the in-memory one (each "
            "worker would track provider health alone). Add `storage: {store: sqlite, path: "
            "/var/lib/modelmesh/state.sqlite3}` to the config for one host, or `storage: {store: redis, "
            'url: "redis://host:6379/0"}` for several hosts; or run --workers 1.'
        )


@dataclass(frozen=True, slots=True)
class MeshSource:
    """Where a worker reads its mesh from: a config file, or capabilities detected from the environment."""

    config: str | None
    capabilities: tuple[str, ...]

    def build(self) -> ModelMesh:
        from modelmesh.builder import build_mesh
        from modelmesh.client import build_config

        return build_mesh(build_config(list(self.capabilities), config=self.config))


@dataclass(frozen=True, slots=True)
class WorkerApp:
    """The app factory uvicorn calls in each worker process (pickled to it: no environment variables)."""

    source: MeshSource
    settings: ProxySettings

    def __call__(self) -> ASGIApp:
        from modelmesh.serve.app import create_app

        configure_access_log(self.settings.access_log)  # a spawned process starts with no log handlers
        try:
            mesh = self.source.build()
        except Exception as exc:
            # uvicorn would print a traceback and restart the worker forever; this exit code makes its
            # supervisor stop instead (``runner.serve_workers`` then raises).
            logger.error("worker %d could not build the mesh: %s", os.getpid(), exc)
            sys.exit(STARTUP_FAILURE)
        return MeshOwner(create_app(mesh, settings=self.settings), mesh)


class MeshOwner:
    """``app`` whose mesh is closed once the app's own shutdown is done (the worker is ending)."""

    def __init__(self, app: ASGIApp, mesh: ModelMesh) -> None:
        self.app, self.mesh = app, mesh

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                self.mesh.close()
            await send(message)

        await self.app(scope, receive, closing)
