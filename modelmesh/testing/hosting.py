"""Serving one ASGI app with uvicorn on 127.0.0.1, in a daemon thread with its own event loop.

Why one thread and loop per server: a fake's handlers sleep (latency, stalls) and may run a user's
responder, which could block; separate loops keep one fake's behaviour from leaking into another's
timings, which is what latency- and failover tests measure. A thread and a loop cost well under a
millisecond; starting a server takes a few milliseconds in all (see the report in
``tests/testing/test_hosting.py``).

Why not ``uvicorn.Server.serve()``: it installs signal handlers, configures logging, and its shutdown
waits at least 100 ms and then for every open connection, which a held-open stream (``Fault.no_done``)
would stretch to 30 s. We use uvicorn's protocol stack through ``Server.startup(sockets=...)`` on a
socket we bound ourselves (port 0: the OS picks a free port, no races), and shut down ourselves: stop
listening, abort every connection, let the handlers notice, cancel stragglers, close the loop.

Servers still running at interpreter exit are stopped by an ``atexit`` hook, so a forgotten
``stop()`` leaves no unclosed socket or event loop behind (no ResourceWarning at exit).

The transport of each connection is reachable from the app through :meth:`ServerThread.abort`, which
is how ``Fault.reset`` and ``Fault.cut`` close a connection without a clean HTTP ending.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import socket
import threading
import weakref
from collections.abc import MutableMapping
from typing import Any

import uvicorn

HOST = "127.0.0.1"
START_TIMEOUT_S = 10.0
STOP_GRACE_S = 1.0
_RUNNING: weakref.WeakSet[ServerThread] = weakref.WeakSet()


@atexit.register
def _stop_forgotten_servers() -> None:
    """Servers nobody stopped are stopped at exit, so no socket or loop is left to the finaliser."""
    for server in list(_RUNNING):
        server.stop()


class ServerThread:
    """One uvicorn server for ``app`` on a free port of 127.0.0.1, run by a daemon thread."""

    def __init__(self, app: Any, *, name: str) -> None:
        self._app = app
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: uvicorn.Server | None = None
        self._socket: socket.socket | None = None
        self.port: int = 0

    def start(self) -> int:
        """Start serving; returns the port."""
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=self._run, name=f"modelmesh-fake-{self._name}", daemon=True)
        self._thread.start()
        try:
            self.port = asyncio.run_coroutine_threadsafe(self._startup(), loop).result(START_TIMEOUT_S)
        except BaseException:
            self.stop()
            raise
        _RUNNING.add(self)
        return self.port

    def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _startup(self) -> int:
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only then (proto 0 meant a 40 ms Nagle stall).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket = sock
        sock.bind((HOST, 0))
        config = uvicorn.Config(
            self._app,
            lifespan="off",
            log_config=None,
            access_log=False,
            http="h11",
            ws="none",
            timeout_keep_alive=5,
        )
        config.load()
        server = uvicorn.Server(config)
        server.lifespan = config.lifespan_class(config)
        await server.startup(sockets=[sock])
        self._server = server
        return int(sock.getsockname()[1])

    def abort(self, scope: MutableMapping[str, Any]) -> None:
        """Close the connection that carries the request ``scope`` at once (called on the loop)."""
        server = self._server
        client = scope.get("client")
        if server is None or client is None:
            return
        for connection in list(server.server_state.connections):
            if getattr(connection, "client", None) == tuple(client):
                connection.transport.abort()

    def stop(self) -> None:
        """Stop serving, close every connection and socket, end the thread. Idempotent."""
        _RUNNING.discard(self)
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if thread.is_alive() and not loop.is_closed():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(START_TIMEOUT_S)
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
            thread.join(START_TIMEOUT_S)
        if self._socket is not None:
            self._socket.close()
        self._loop = self._thread = self._server = self._socket = None

    async def _shutdown(self) -> None:
        server = self._server
        if server is None:
            return
        for listener in getattr(server, "servers", []):
            listener.close()
        for connection in list(server.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        tasks = set(server.server_state.tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=STOP_GRACE_S)
        for listener in getattr(server, "servers", []):
            await listener.wait_closed()
