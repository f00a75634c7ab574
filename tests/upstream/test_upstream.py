"""The clients to providers (``modelmesh.upstream``): pools, connections, HTTP/1.1 and sockets.

Each test runs a raw asyncio server on 127.0.0.1 that controls exactly when it answers and when it
closes. The clients under test are the async one on the standard event loop and on uvloop (what the
proxy runs on when it is installed) and the sync one (``MeshClient``'s), whose calls run in threads.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpcore2
import httpx2
import openai
import pytest

from modelmesh.builder import build_mesh
from modelmesh.client import build_config
from modelmesh.engine.drivers import AsyncMeshTransport, MeshTransport
from modelmesh.serve import create_app
from modelmesh.serve.protocols import HTTPTOOLS
from modelmesh.upstream import pool as upstream
from modelmesh.upstream.pool import SyncUpstreamPool, UpstreamPool, sync_upstream_transport
from tests.engine.scripted import Script, ScriptedServer
from tests.engine.test_deadlines import config as deadline_config
from tests.engine.test_deadlines import timed_ask
from tests.upstream.clients import KINDS, Clients, SyncInThreads

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(params=KINDS)
def clients(request: pytest.FixtureRequest) -> Clients:
    """The client under test: async on asyncio, async on uvloop, or sync (MeshClient's)."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    return Clients(request.param)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return await reader.readexactly(length)


def answer(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


@asynccontextmanager
async def server(handler: Handler, ssl_context: ssl.SSLContext | None = None) -> Any:
    """(origin, list of accepted connections) of a server answering each connection with ``handler``."""
    accepted: list[int] = []

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    listener = await asyncio.start_server(connection, "127.0.0.1", 0, ssl=ssl_context)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}", accepted
    finally:
        listener.close()
        await listener.wait_closed()


async def echo_forever(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    while True:
        body = await read_request(reader)
        writer.write(answer(b"echo:" + body))
        await writer.drain()


def test_the_proxy_and_both_clients_send_through_these_pools_and_parsers() -> None:
    config = {"providers": {"openai": {"api_key": "sk-x", "base_url": "http://127.0.0.1:9/v1"}}}
    mesh = build_mesh(build_config(["chat-completion"], config=config))
    try:
        app = create_app(mesh)
        assert isinstance(app.state.transport._http._pool, UpstreamPool)
        assert isinstance(AsyncMeshTransport(mesh)._http._pool, UpstreamPool)  # type: ignore[attr-defined]
        assert isinstance(MeshTransport(mesh)._http._pool, SyncUpstreamPool)  # type: ignore[attr-defined]
    finally:
        mesh.close()
    # httptools' parser, else httpcore2's h11 connections
    names = (
        ("AsyncHttp1Connection", "SyncHttp1Connection")
        if HTTPTOOLS
        else ("AsyncHTTP11Connection", "HTTP11Connection")
    )
    assert (upstream._ASYNC_CONNECTION.__name__, upstream._SYNC_CONNECTION.__name__) == names


def test_the_swapped_pool_is_the_one_that_sends(clients: Clients) -> None:
    """httpx2 builds its own pool first: the one swapped in must be the one holding connections."""

    async def main() -> None:
        transport = clients.transport()
        client = SyncInThreads(transport) if clients.is_sync else httpx2.AsyncClient(transport=transport)
        async with server(echo_forever) as (origin, _), client:
            assert (await client.post(origin, content=b"x")).content == b"echo:x"
            held = transport._pool.connections
            expected = upstream._SYNC_CONNECTION if clients.is_sync else upstream._ASYNC_CONNECTION
            assert [type(connection) for connection in held] == [expected]

    clients.run(main())


def test_keep_alive_connections_are_reused(clients: Clients) -> None:
    async def main() -> None:
        async with server(echo_forever) as (origin, accepted):
            async with clients.open() as client:
                for n in range(3):
                    reply = await client.post(origin, content=b"%d" % n)
                    assert reply.content == b"echo:%d" % n
            assert len(accepted) == 1

    clients.run(main())


def test_a_connection_the_server_closed_while_idle_is_not_reused(
    clients: Clients,
) -> None:
    async def once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await read_request(reader)
        writer.write(answer(b"echo:" + body))  # keep-alive implied (HTTP/1.1), then closed anyway
        await writer.drain()

    async def main() -> None:
        async with server(once_then_close) as (origin, accepted):
            async with clients.open() as client:
                assert (await client.post(origin, content=b"1")).content == b"echo:1"
                await asyncio.sleep(0.1)  # the server's close reaches the idle pooled connection
                assert (await client.post(origin, content=b"2")).content == b"echo:2"
            assert len(accepted) == 2

    clients.run(main())


def test_a_server_that_never_answers_is_a_read_timeout(clients: Clients) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async def main() -> None:
        async with server(silent) as (origin, _), clients.open(timeout=0.3) as client:
            started = time.monotonic()
            with pytest.raises(httpx2.ReadTimeout):
                await client.post(origin, content=b"x")
            assert time.monotonic() - started < 2.5

    clients.run(main())


def test_a_refused_connection_is_a_connect_error(clients: Clients) -> None:
    async def main() -> None:
        async with server(echo_forever) as (origin, _):
            pass  # closed: nothing listens on its port any more
        async with clients.open() as client:
            with pytest.raises(httpx2.ConnectError):
                await client.post(origin, content=b"x")

    clients.run(main())


def test_a_large_answer_read_slowly_arrives_whole(clients: Clients) -> None:
    big = bytes(range(256)) * 16 * 1024  # 4 MiB: reading pauses and resumes on the way

    async def large(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(big))
        await writer.drain()
        await asyncio.sleep(1)

    async def main() -> None:
        async with server(large) as (origin, _), clients.open() as client:
            received = bytearray()
            async with client.stream("POST", origin, content=b"x") as reply:
                async for chunk in reply.aiter_raw():
                    received += chunk
                    if len(received) < 1024 * 1024:
                        await asyncio.sleep(0.002)  # a slow reader: the buffer fills past its limit
            assert bytes(received) == big

    clients.run(main())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
        # Every real provider is HTTPS: in CI (which installs openssl) a missing command must not pass.
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("the openssl command is needed to make a test certificate (.ci/run installs it)")
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=127.0.0.1",
            ),
            *("-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_upstreams_are_verified_and_answered(clients: Clients, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def main() -> None:
        async with server(echo_forever, server_context) as (origin, accepted):
            trusting = ssl.create_default_context(cafile=str(cert))
            async with clients.open(trusting) as client:
                for n in range(2):
                    assert (await client.post(origin, content=b"%d" % n)).content == b"echo:%d" % n
            assert len(accepted) == 1
            async with clients.open() as client:  # the system's CAs
                with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await client.post(origin, content=b"x")

    clients.run(main())


async def held_open(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answers each request with a streamed body whose end comes only when the client sends more."""
    while True:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await asyncio.sleep(0.3)
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def test_at_the_connection_limit_a_request_waits_for_a_free_connection(
    clients: Clients,
) -> None:
    async def main() -> None:
        limits = httpx2.Limits(max_connections=1, max_keepalive_connections=1)
        async with server(echo_forever) as (origin, accepted):
            async with clients.open(limits=limits) as client:
                replies = await asyncio.gather(*(client.post(origin, content=b"%d" % n) for n in range(5)))
            assert [r.content for r in replies] == [b"echo:%d" % n for n in range(5)]
            assert len(accepted) == 1

    clients.run(main())


def test_the_pool_timeout_ends_a_wait_for_a_connection(clients: Clients) -> None:
    async def main() -> None:
        limits = httpx2.Limits(max_connections=1)
        client = clients.open(limits=limits, timeout=httpx2.Timeout(5, pool=0.1))
        async with server(held_open) as (origin, _), client:
            async with client.stream("POST", origin, content=b"x"):  # holds the only connection
                with pytest.raises(httpx2.PoolTimeout):
                    await client.post(origin, content=b"y")
            assert (await client.post(origin, content=b"z")).status_code == 200  # free again

    clients.run(main())


def test_idle_connections_beyond_the_keep_alive_limit_are_closed(
    clients: Clients,
) -> None:
    async def main() -> None:
        limits = httpx2.Limits(max_connections=10, max_keepalive_connections=1)
        async with server(held_open) as (origin, accepted), clients.open(limits=limits) as client:
            await asyncio.gather(*(client.post(origin, content=b"x") for _ in range(3)))
            assert len(accepted) == 3
            await asyncio.gather(*(client.post(origin, content=b"x") for _ in range(2)))
            assert len(accepted) == 4  # one connection was kept, two were closed

    clients.run(main())


@pytest.fixture(params=KINDS[:2])
def async_clients(request: pytest.FixtureRequest) -> Clients:
    """The async client alone, on asyncio and uvloop: for what only an awaiting caller can do."""
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    return Clients(request.param)


def test_a_cancelled_request_frees_its_connection(async_clients: Clients) -> None:
    """A client leaving cancels the mesh's run: its upstream connection must not stay taken."""
    connections: list[int] = []

    async def silent_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        if len(connections) == 1:  # the first connection never answers
            await read_request(reader)
            await asyncio.sleep(5)
        await echo_forever(reader, writer)

    async def main() -> None:
        limits = httpx2.Limits(max_connections=1)
        async with server(silent_once) as (origin, _):
            async with async_clients.open(limits=limits) as client:
                stuck = asyncio.ensure_future(client.post(origin, content=b"x"))
                await asyncio.sleep(0.1)
                stuck.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await stuck
                reply = await client.post(origin, content=b"after", timeout=httpx2.Timeout(2, pool=1))
                assert reply.content == b"echo:after"
            assert len(connections) == 2

    async_clients.run(main())


def test_closing_the_transport_closes_its_connections(clients: Clients) -> None:
    async def main() -> None:
        closed = asyncio.Event()

        async def watch(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            body = await read_request(reader)
            writer.write(answer(body))
            await writer.drain()
            assert await reader.read() == b""  # the client closed its idle connection
            closed.set()

        async with server(watch) as (origin, _):
            client = clients.open()
            await client.post(origin, content=b"x")
            await client.aclose()
            await asyncio.wait_for(closed.wait(), 2)

    clients.run(main())


def test_a_large_request_body_arrives_whole(clients: Clients) -> None:
    big = bytes(range(256)) * 12 * 1024  # 3 MiB: sent in pieces, each waiting for the socket to drain

    async def digest(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await read_request(reader)
        writer.write(answer(b"%d:%d" % (len(body), body == big)))
        await writer.drain()

    async def main() -> None:
        async with (
            server(digest) as (origin, _),
            clients.open() as client,
        ):
            assert (await client.post(origin, content=big)).content == b"%d:1" % len(big)

    clients.run(main())


def replying(*replies: bytes, close: bool = False) -> Handler:
    """A server answering successive requests on a connection with ``replies``, raw."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for reply in replies:
            await read_request(reader)
            writer.write(reply)
            await writer.drain()
        if not close:
            await reader.read()

    return handler


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", b"abcde"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n", b""),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b""),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", b"ok"),
    ],
)
def test_answers_of_every_framing_are_read_and_the_connection_reused(
    clients: Clients, reply: bytes, expected: bytes
) -> None:
    async def main() -> None:
        async with server(replying(reply, reply)) as (origin, accepted):
            async with clients.open() as client:
                for _ in range(2):
                    assert (await client.post(origin, content=b"x")).content == expected
            assert len(accepted) == 1

    clients.run(main())


def test_an_answer_ended_by_the_close_of_the_connection(clients: Clients) -> None:
    async def main() -> None:
        reply = b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end"
        client = clients.open()
        async with server(replying(reply, close=True)) as (origin, _), client:
            assert (await client.post(origin, content=b"x")).content == b"until the end"
            assert (await client.post(origin, content=b"x")).content == b"until the end"  # a new one

    clients.run(main())


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (b"", httpx2.RemoteProtocolError),  # closed without an answer
        (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", httpx2.RemoteProtocolError),
        (b"NOT HTTP AT ALL\r\n\r\n", httpx2.RemoteProtocolError),
        # httptools' upgrade error is no HttpParserError: it escaped httpx2's exception map
        (
            b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ws\r\n\r\nxx",
            httpx2.RemoteProtocolError,
        ),
    ],
)
def test_broken_answers_are_protocol_errors(clients: Clients, reply: bytes, error: type[Exception]) -> None:
    async def main() -> None:
        client = clients.open()
        async with server(replying(reply, close=True)) as (origin, _), client:
            with pytest.raises(error):
                await client.post(origin, content=b"x")

    clients.run(main())


def test_a_head_answer_has_no_body_and_a_streamed_upload_is_chunked(
    clients: Clients,
) -> None:
    async def upload(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")  # HEAD: the length, no body
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"transfer-encoding: chunked" in head.lower()
        body = await reader.readuntil(b"0\r\n\r\n")
        writer.write(answer(body))
        await writer.drain()
        await reader.read()

    async def parts() -> AsyncIterator[bytes]:
        yield b"one"
        yield b"two"

    def sync_parts() -> Iterator[bytes]:
        yield b"one"
        yield b"two"

    async def main() -> None:
        async with server(upload) as (origin, accepted):
            async with clients.open() as client:
                head = await client.head(origin)
                assert head.headers["content-length"] == "100" and head.content == b""
                reply = await client.post(origin, content=sync_parts() if clients.is_sync else parts())
                assert reply.content == b"3\r\none\r\n3\r\ntwo\r\n0\r\n\r\n"
            assert len(accepted) == 1

    clients.run(main())


def test_header_values_cannot_inject_lines(clients: Clients) -> None:
    async def main() -> None:
        client = clients.open()
        async with server(echo_forever) as (origin, _), client:
            with pytest.raises(httpx2.LocalProtocolError):
                await client.post(origin, content=b"x", headers={"x-evil": "a\r\nx-injected: 1"})

    clients.run(main())


def test_a_server_that_never_completes_the_tls_handshake_is_a_connect_timeout(clients: Clients) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)  # accepts the TCP connection, never says a word of TLS

    async def main() -> None:
        async with server(silent) as (origin, _), clients.open(timeout=0.3) as client:
            started = time.monotonic()
            with pytest.raises(httpx2.ConnectTimeout):
                await client.post(origin.replace("http://", "https://"), content=b"x")
            assert time.monotonic() - started < 2.5

    clients.run(main())


def test_a_server_that_never_reads_the_request_is_a_write_timeout(clients: Clients) -> None:
    big = b"x" * (64 * 1024 * 1024)  # beyond what the sockets' buffers hold on the way

    async def deaf(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await asyncio.sleep(5)  # reads nothing more: the client's sends stall

    async def main() -> None:
        async with server(deaf) as (origin, _), clients.open(timeout=0.3) as client:
            started = time.monotonic()
            with pytest.raises(httpx2.WriteTimeout):
                await client.post(origin, content=big)
            assert time.monotonic() - started < 2.5

    clients.run(main())


def test_without_httptools_httpcore2s_own_connections_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("httptools", "modelmesh.upstream.http1", "modelmesh.upstream.connections"):
        monkeypatch.setitem(sys.modules, name, None)  # importing any of them fails
    assert upstream._connection_classes() == (httpcore2.AsyncHTTP11Connection, httpcore2.HTTP11Connection)


def test_the_pools_answer_over_httpcore2s_connections_too(
    clients: Clients, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(upstream, "_ASYNC_CONNECTION", httpcore2.AsyncHTTP11Connection)
    monkeypatch.setattr(upstream, "_SYNC_CONNECTION", httpcore2.HTTP11Connection)

    async def main() -> None:
        async with server(echo_forever) as (origin, accepted), clients.open() as client:
            for n in range(3):
                assert (await client.post(origin, content=b"%d" % n)).content == b"echo:%d" % n
            assert len(accepted) == 1

    clients.run(main())


def test_many_concurrent_requests_share_a_few_connections(clients: Clients) -> None:
    """The sync pool's books are shared by threads: none lost, none counted twice, the limit held."""

    async def main() -> None:
        limits = httpx2.Limits(max_connections=3, max_keepalive_connections=3)
        async with server(echo_forever) as (origin, accepted), clients.open(limits=limits) as client:
            replies = await asyncio.gather(*(client.post(origin, content=b"%d" % n) for n in range(60)))
            assert [r.content for r in replies] == [b"echo:%d" % n for n in range(60)]
            assert len(accepted) <= 3
            pool = client._transport._pool
            assert pool.connections_open == len(pool.connections) == pool.idle_count <= 3

    clients.run(main())


def test_an_answer_longer_than_declared_is_returned_and_its_connection_not_reused(clients: Clients) -> None:
    """The rest of a body longer than its content-length must neither fail this answer nor reach the
    next one."""

    async def too_long(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello, and some more\r\n\r\n")
            await writer.drain()

    async def main() -> None:
        async with server(too_long) as (origin, accepted), clients.open() as client:
            for _ in range(3):
                assert (await client.post(origin, content=b"x")).content == b"hello"
            assert len(accepted) == 3

    clients.run(main())


def test_a_head_that_never_ends_is_a_protocol_error_not_a_wait(clients: Clients) -> None:
    """Header lines sent without end (none of them late) are refused at 100 KiB, as httpcore2 did."""

    async def endless_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\n")
        for n in range(64 * 1024):  # 64 MiB at most, then silence (the client's read timeout)
            writer.write(b"x-filler-%d: %s\r\n" % (n, b"a" * 1000))
            await writer.drain()
        await asyncio.sleep(30)

    async def main() -> None:
        async with server(endless_head) as (origin, _), clients.open(timeout=30) as client:
            with pytest.raises(httpx2.RemoteProtocolError, match="100 KiB"):
                await asyncio.wait_for(client.post(origin, content=b"x"), 10)

    clients.run(main())


def test_a_request_cancelled_once_woken_passes_the_free_connection_on(async_clients: Clients) -> None:
    """A waiter woken for a free connection and cancelled before it ran (its caller left, a deadline)
    must hand the wake-up on: else the next waiter sleeps beside an idle connection."""

    async def main() -> None:
        limits = httpx2.Limits(max_connections=1)
        async with server(echo_forever) as (origin, _), async_clients.open(limits=limits) as client:
            holding = client.stream("POST", origin, content=b"a")
            reply = await holding.__aenter__()  # holds the only connection
            woken = asyncio.ensure_future(client.post(origin, content=b"b"))
            waiting = asyncio.ensure_future(client.post(origin, content=b"c"))
            await asyncio.sleep(0.1)  # both wait for the connection
            await reply.aread()
            await holding.__aexit__(None, None, None)  # the connection is free: the first waiter is woken
            woken.cancel()  # ... and cancelled before it could run
            assert (await asyncio.wait_for(waiting, 2)).content == b"echo:c"

    async_clients.run(main())


class _WakeLost(threading.Condition):
    """``threading.Condition`` as it behaves when a notify lands while a timed wait is expiring (the
    waiter reports a timeout and the notify is gone: CPython removes it from the waiters all the same)
    or as the waiting thread is interrupted (a ``KeyboardInterrupt`` in the main thread)."""

    def wait(self, timeout: float | None = None) -> bool:
        woken = super().wait(timeout)
        if threading.current_thread().name == "interrupted-as-woken":
            raise KeyboardInterrupt
        return woken and threading.current_thread().name != "times-out-as-woken"


@pytest.mark.parametrize("how", ["times-out-as-woken", "interrupted-as-woken"])
def test_a_sync_waiter_leaving_as_it_is_woken_passes_the_free_connection_on(how: str) -> None:
    async def main() -> None:
        limits = httpx2.Limits(max_connections=1)
        async with (
            server(echo_forever) as (origin, _),
            SyncInThreads(sync_upstream_transport(None, limits)) as client,
        ):
            pool = client._transport._pool
            assert isinstance(pool, SyncUpstreamPool)
            pool.freed = _WakeLost(pool.lock)
            outcomes: dict[str, object] = {}

            def post(name: str, content: bytes) -> None:
                try:
                    outcomes[name] = client.client.post(
                        origin, content=content, timeout=httpx2.Timeout(5, pool=3)
                    ).content
                except (httpx2.PoolTimeout, KeyboardInterrupt) as exc:
                    outcomes[name] = exc

            async with client.stream("POST", origin, content=b"a") as held:  # holds the only connection
                first = threading.Thread(target=post, args=("first", b"b"), name=how)
                first.start()
                await asyncio.sleep(0.1)
                second = threading.Thread(target=post, args=("second", b"c"))
                second.start()
                await asyncio.sleep(0.1)  # both wait, the first one first
                async for _ in held.aiter_raw():
                    pass
            started = time.monotonic()
            await asyncio.to_thread(first.join)
            await asyncio.to_thread(second.join)
            assert isinstance(outcomes["first"], httpx2.PoolTimeout | KeyboardInterrupt)
            assert outcomes["second"] == b"echo:c"
            assert time.monotonic() - started < 2  # not at the end of its own pool timeout

    asyncio.run(main())


def test_closing_the_client_ends_the_requests_it_is_still_reading(clients: Clients) -> None:
    """``MeshClient.close()`` from one thread while others wait for answers: they end now, not at their
    read timeout (closing a socket does not wake a thread blocked reading it; shutting it down does)."""

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(10)

    async def main() -> None:
        async with server(silent) as (origin, _):
            client = clients.open(timeout=30)
            reading = [asyncio.ensure_future(client.post(origin, content=b"x")) for _ in range(3)]
            await asyncio.sleep(0.2)  # each request waits for its answer
            started = time.monotonic()
            await client.aclose()
            outcomes = await asyncio.wait_for(asyncio.gather(*reading, return_exceptions=True), 5)
            assert all(isinstance(outcome, httpx2.ReadError) for outcome in outcomes), outcomes
            assert all("closed" in str(outcome) for outcome in outcomes), outcomes
            assert time.monotonic() - started < 2

    clients.run(main())


def test_closing_a_sync_client_wakes_the_threads_blocked_reading_through_it() -> None:
    """Against a server in another thread (as providers are), a thread blocked reading a socket that
    another thread closes stays blocked until its read timeout: the pool shuts the socket down first."""
    with ScriptedServer(Script.silent(10)) as silent:
        client = httpx2.Client(transport=sync_upstream_transport(), timeout=8)
        with ThreadPoolExecutor(3) as threads:
            reading = [threads.submit(client.post, silent.base_url, content=b"x") for _ in range(3)]
            time.sleep(0.3)  # each thread waits for its answer
            started = time.monotonic()
            client.close()
            for outcome in reading:
                with pytest.raises(httpx2.ReadError, match="closed by the mesh"):
                    outcome.result()
        assert time.monotonic() - started < 2


def test_an_answer_sent_before_the_request_body_was_read_is_returned(clients: Clients) -> None:
    """A server may answer early (413, 401) and close without reading the rest of the body: httpcore2
    then read that answer; the connection, its request cut short, is not reused."""
    connections: list[int] = []

    async def refuses_large_bodies(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        if len(connections) > 1:
            await echo_forever(reader, writer)
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\n\r\ntoo big!")
        await writer.drain()

    async def main() -> None:
        async with server(refuses_large_bodies) as (origin, _), clients.open(timeout=5) as client:
            reply = await client.post(origin, content=b"x" * (16 * 1024 * 1024))
            assert (reply.status_code, reply.content) == (413, b"too big!")
            assert (await client.post(origin, content=b"small")).content == b"echo:small"
        assert len(connections) == 2

    clients.run(main())


def test_a_server_that_closes_during_the_tls_handshake_is_a_connect_error_that_says_so(
    async_clients: Clients,
) -> None:
    async def closes(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(100)  # the ClientHello, then the connection is closed

    async def main() -> None:
        async with server(closes) as (origin, _), async_clients.open(timeout=2) as client:
            with pytest.raises(httpx2.ConnectError, match="closed during the TLS handshake"):
                await client.post(origin.replace("http://", "https://"), content=b"x")

    async_clients.run(main())


def trickled_head(pause: float) -> Handler:
    """A server that answers each request with a head sent one byte at a time, each a ``pause`` apart."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for byte in b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-filler: " + b"a" * 1000:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(pause)

    return handler


def test_a_head_trickled_a_byte_at_a_time_is_a_read_timeout(clients: Clients) -> None:
    """The read timeout bounds the wait for the whole head: bytes that never make one reset nothing."""

    async def main() -> None:
        async with server(trickled_head(0.05)) as (origin, _), clients.open(timeout=0.5) as client:
            started = time.monotonic()
            with pytest.raises(httpx2.ReadTimeout, match="head"):
                await client.post(origin, content=b"x")
            assert time.monotonic() - started < 2.5

    clients.run(main())


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_a_trickled_head_ends_by_the_callers_deadline(mode: str, stream: bool) -> None:
    """Seen through the SDK: ``with_options(timeout=2)`` held 54 s by a head trickled 0.2 s a byte (here:
    a 1 s budget, a byte every 0.1 s, each well inside the read timeout that used to restart per byte)."""

    async def serve_and_ask() -> tuple[float, Any]:
        async with server(trickled_head(0.1)) as (origin, _):
            return await asyncio.to_thread(
                timed_ask, mode, deadline_config(origin + "/v1"), "with_options", stream, 1.0
            )

    elapsed, outcome = asyncio.run(serve_and_ask())
    assert isinstance(outcome, openai.APITimeoutError)
    assert elapsed < 1.5


@pytest.mark.parametrize(
    ("start", "unit"),
    [
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1;", b"a" * 1000),
        (
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n",
            b"x-t: " + b"a" * 1000 + b"\r\n",
        ),
    ],
    ids=["chunk-header", "trailers"],
)
def test_framing_without_end_is_a_protocol_error_not_a_wait(
    clients: Clients, start: bytes, unit: bytes
) -> None:
    """A chunk header or a trailer section sent without end, fast: no body byte ever comes, so neither a
    read timeout nor the engine's deadline can end it; h11 refused it at 100 KiB."""

    async def endless(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(start)
        for _ in range(64 * 1024):  # 64 MiB at most, then silence (the client's read timeout)
            writer.write(unit)
            await writer.drain()
        await asyncio.sleep(30)

    async def main() -> None:
        async with server(endless) as (origin, _), clients.open(timeout=30) as client:
            with pytest.raises(httpx2.RemoteProtocolError, match="100 KiB"):
                await asyncio.wait_for(client.post(origin, content=b"x"), 10)

    clients.run(main())


@pytest.mark.parametrize(
    "start",
    [
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1;",  # a chunk extension, a byte at a time
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\nx-t: ",  # trailers, likewise
    ],
    ids=["chunk-header", "trailers"],
)
def test_framing_trickled_a_byte_at_a_time_is_a_read_timeout(clients: Clients, start: bytes) -> None:
    """The read timeout bounds the wait for the next body byte, as for the head: a trickle of framing
    carries nothing, and the engine's deadline cannot step in while no body byte comes."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(start)
        for _ in range(1000):
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(b"a")

    async def main() -> None:
        async with server(trickle) as (origin, _), clients.open(timeout=0.5) as client:
            started = time.monotonic()
            with pytest.raises(httpx2.ReadTimeout, match="body byte"):
                await asyncio.wait_for(client.post(origin, content=b"x"), 10)
            assert time.monotonic() - started < 2.5

    clients.run(main())
