"""Running the proxy under uvicorn: exposure check, slow-client timeouts, logging, and a graceful drain.

Owns the server process side: refusing an unauthenticated non-loopback bind, the uvicorn settings (the
HTTP protocol with a request-head deadline from ``protocols``: httptools when installed, else h11; uvloop
when installed), the access log (ours, path only: uvicorn's prints query strings), and SIGTERM/SIGINT
handling that stops accepting, lets in-flight requests finish for ``grace_s`` and returns normally (exit
0, no re-raised signal, no traceback). With ``--workers N`` uvicorn's supervisor (``WorkerSupervisor``:
workers start with SIGINT ignored) runs N worker processes on one socket, each building its own app and
mesh (``workers.WorkerApp``) and draining on the SIGTERM the supervisor sends. It deliberately builds no
app (``app.create_app`` does) and no mesh.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import math
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from modelmesh.serve.app import create_app
from modelmesh.serve.edge import configure_access_log
from modelmesh.serve.protocols import HeaderDeadlineProtocol, default_protocol, header_deadline_protocol
from modelmesh.serve.settings import DEFAULT_HOST, DEFAULT_PORT, ProxySettings, check_exposure, is_loopback
from modelmesh.serve.workers import STARTUP_FAILURE, MeshSource, WorkerApp, metrics_directory, worker_gone

try:
    import uvicorn
    from uvicorn.supervisors.multiprocess import Multiprocess
except ImportError as exc:  # pragma: no cover - uvicorn is the `serve` extra
    raise ImportError("modelmesh serve needs uvicorn: pip install 'modelmesh[serve]'") from exc

if TYPE_CHECKING:
    from modelmesh.mesh import ModelMesh

logger = logging.getLogger("modelmesh.serve")
__all__ = ["HeaderDeadlineProtocol", "header_deadline_protocol", "serve", "serve_workers"]


def serve(
    mesh: ModelMesh,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    api_key: str | None = None,
    settings: ProxySettings | None = None,
    insecure_no_auth: bool = False,
    log_level: str = "info",
) -> None:
    """Run the proxy until SIGTERM/SIGINT, then drain and return; ``mesh`` stays open.

    Raises ``ValueError`` before binding when ``host`` is not loopback and no proxy key is set (unless
    ``insecure_no_auth``). ``settings.redact_provider_errors`` None means: on unless ``host`` is loopback.
    """
    settings = resolved(settings or ProxySettings(), host, api_key)
    check_exposure(host, settings, insecure_no_auth=insecure_no_auth)
    app = create_app(mesh, settings=settings)
    configure_access_log(settings.access_log)
    config = server_config(app, settings, host=host, port=port, log_level=log_level)
    auth = f"on ({len(settings.api_keys)} keys)" if settings.api_keys else "off"
    logger.info("pools %s on http://%s:%d/v1 (proxy auth %s)", sorted(mesh.pools), host, port, auth)
    DrainingServer(config).run()


def serve_workers(
    source: MeshSource,
    workers: int,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    settings: ProxySettings | None = None,
    insecure_no_auth: bool = False,
    log_level: str = "info",
) -> None:
    """Run ``workers`` proxy processes on one socket until SIGTERM/SIGINT, then drain them and return.

    Raises ``OSError`` when the socket cannot be bound and ``RuntimeError`` when a worker fails to start.

    The caller checks the mesh config first (``workers.check_shared_store``): each worker builds its own
    mesh from ``source``, so they agree on provider health only through a shared store.
    """
    settings = resolved(settings or ProxySettings(), host, None)
    check_exposure(host, settings, insecure_no_auth=insecure_no_auth)
    with metrics_directory() as metrics_dir:  # the workers' shared metrics files, for this run only
        app = WorkerApp(source, settings, metrics_dir)
        config = server_config(app, settings, host=host, port=port, log_level=log_level)
        config.factory, config.workers = True, workers
        sock = listening_socket(host, port)
        logger.info("%d workers on http://%s:%d/v1", workers, host, port)
        # The supervisor forwards SIGTERM/SIGINT to each worker as one SIGTERM; uvicorn's own worker
        # server then drains for --grace and runs the app's shutdown (which closes that worker's mesh).
        supervisor = WorkerSupervisor(config, sockets=[sock])
        supervisor.metrics_dir = metrics_dir
        supervisor.run()
    if any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes):
        raise RuntimeError("a worker could not start (its error is logged above), so the proxy stopped")


class WorkerSupervisor(Multiprocess):
    """uvicorn's supervisor, but its workers start with SIGINT ignored (until their server is up).

    A terminal's Ctrl-C reaches the whole process group: a worker still importing would die with a
    KeyboardInterrupt traceback. An ignored signal is the one disposition a spawned process inherits
    (handlers are reset by exec), and the worker's server installs its own handler once it runs; the
    supervisor stops the workers with SIGTERM anyway. The parent ignores SIGINT only while it spawns.
    """

    def init_processes(self) -> None:
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            super().init_processes()
        finally:
            signal.signal(signal.SIGINT, previous)

    metrics_dir: str | None = None  # the run's shared metrics directory

    def keep_subprocess_alive(self) -> None:
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                worker_gone(pid, self.metrics_dir)  # a dead worker's in-flight gauge leaves the sums


def listening_socket(host: str, port: int) -> socket.socket:
    """The workers' shared socket, created as IPPROTO_TCP (uvicorn's ``bind_socket`` passes protocol 0).

    asyncio sets TCP_NODELAY on accepted connections only when the listener's protocol is IPPROTO_TCP;
    without it a reply written in two parts waits for the client's delayed ACK (~40 ms per request).
    """
    family, kind, proto, _, address = socket.getaddrinfo(
        host.strip("[]"), port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def server_config(app: Any, settings: ProxySettings, *, host: str, port: int, log_level: str) -> ProxyConfig:
    return ProxyConfig(
        app,
        header_timeout_s=settings.header_timeout_s,
        host=host,
        port=port,
        log_level=log_level,
        lifespan="on",
        access_log=False,  # ours logs the path only (see Edge)
        timeout_keep_alive=settings.keep_alive_s,
        timeout_graceful_shutdown=math.ceil(settings.grace_s),
        http=default_protocol(),  # httptools when installed, else h11; loop "auto": uvloop when installed
    )


class ProxyConfig(uvicorn.Config):
    """uvicorn's config plus the request-head deadline; a module-level class, so workers can unpickle it."""

    def __init__(self, app: Any, *, header_timeout_s: float, **options: Any) -> None:
        super().__init__(app, **options)
        self.header_timeout_s = header_timeout_s


def resolved(settings: ProxySettings, host: str, api_key: str | None) -> ProxySettings:
    """``settings`` with ``api_key`` added and the automatic error redaction decided by ``host``."""
    if api_key is not None:
        settings = dataclasses.replace(settings, api_keys=(api_key, *settings.api_keys))
    if settings.redact_provider_errors is None:
        settings = dataclasses.replace(settings, redact_provider_errors=not is_loopback(host))
    return settings


class DrainingServer(uvicorn.Server):
    """uvicorn's server, but a stop signal ends it cleanly: drained, then ``run()`` returns (exit 0).

    uvicorn re-raises the captured signal after its shutdown, which makes SIGTERM exit 143 and Ctrl-C
    print a ``KeyboardInterrupt`` traceback; a second signal still forces the exit.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        original = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)

    async def shutdown(self, sockets: list[Any] | None = None) -> None:
        await super().shutdown(sockets)
        if self.force_exit:
            # uvicorn skips the app's shutdown when forced, and the cancelled lifespan task then logs a
            # traceback; closing the proxy's transport takes milliseconds, so it still runs (bounded).
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.lifespan.shutdown(), 2)

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.should_exit:
            self.force_exit = True
        else:
            print("modelmesh serve: stopping, finishing requests in flight", file=sys.stderr)
            self.should_exit = True
