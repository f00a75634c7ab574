"""``modelmesh serve --workers N``: what each worker process builds, and the shared-store rule.

Owns the picklable recipe a worker process receives (where the mesh config comes from, the proxy
settings, the run's metrics directory) and the app it builds from it: its own mesh, closed when the
worker's server shuts down. Workers share routing state only through the configured store, so N > 1
refuses the in-memory store (each worker would keep its own health and rotation). They share metrics
through the run's directory (``metrics_directory``: created for the run and removed after it, unless
the operator set ``PROMETHEUS_MULTIPROC_DIR``), so a scrape of any worker sums all of them. It
deliberately starts no process: uvicorn's supervisor does (see ``runner.serve_workers``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
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


MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's switch (see ``metrics``)


@contextlib.contextmanager
def metrics_directory() -> Iterator[str]:
    """The directory the workers' metrics share for one run: the operator's ``PROMETHEUS_MULTIPROC_DIR``
    (kept), else a fresh private one, removed when the run ends (stale files would add old counts)."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        os.makedirs(given, exist_ok=True)
        yield given
        return
    directory = tempfile.mkdtemp(prefix="modelmesh-metrics-")
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass(frozen=True, slots=True)
class WorkerApp:
    """The app factory uvicorn calls in each worker process (pickled to it: no environment variables)."""

    source: MeshSource
    settings: ProxySettings
    metrics_dir: str | None = None  # the run's shared metrics directory (``metrics_directory``)

    def __call__(self) -> ASGIApp:
        from modelmesh.serve.app import create_app

        configure_access_log(self.settings.access_log)  # a spawned process starts with no log handlers
        if self.metrics_dir is not None:
            _share_metrics(self.metrics_dir)
        try:
            mesh = self.source.build()
        except Exception as exc:
            # uvicorn would print a traceback and restart the worker forever; this exit code makes its
            # supervisor stop instead (``runner.serve_workers`` then raises).
            logger.error("worker %d could not build the mesh: %s", os.getpid(), exc)
            sys.exit(STARTUP_FAILURE)
        return MeshOwner(create_app(mesh, settings=self.settings), mesh, self.metrics_dir)


class MeshOwner:
    """``app`` whose mesh is closed once the app's own shutdown is done (the worker is ending)."""

    def __init__(self, app: ASGIApp, mesh: ModelMesh, metrics_dir: str | None = None) -> None:
        self.app, self.mesh, self.metrics_dir = app, mesh, metrics_dir

    async def __call__(self, scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
                self.mesh.close()
                worker_gone(os.getpid(), self.metrics_dir)
            await send(message)

        await self.app(scope, receive, closing)


def _share_metrics(directory: str) -> None:
    try:
        from modelmesh.serve.metrics import use_multiprocess
    except ImportError:
        return  # no prometheus-client: the app serves no /metrics (it says so itself)
    use_multiprocess(directory)


def worker_gone(pid: int, metrics_dir: str | None) -> None:
    """Take a finished worker's in-flight gauge out of the sums (its counters stay: they happened)."""
    if metrics_dir is None:
        return
    try:
        from prometheus_client.multiprocess import mark_process_dead
    except ImportError:
        return
    mark_process_dead(pid, metrics_dir)
