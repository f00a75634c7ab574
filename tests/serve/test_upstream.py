"""The proxy's upstream connections (``modelmesh.serve.upstream``): httpcore2's pool on asyncio protocols.

Each test runs a raw asyncio server on 127.0.0.1 that controls exactly when it answers and when it
closes, on the standard event loop and on uvloop (what the proxy runs on when it is installed).
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import pytest

from modelmesh.builder import build_mesh
from modelmesh.client import build_config
from modelmesh.serve import create_app
from modelmesh.serve.upstream import UpstreamBackend, upstream_transport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@pytest.fixture(params=["asyncio", "uvloop"])
def run(request: pytest.FixtureRequest) -> Iterator[Callable[[Awaitable[Any]], Any]]:
    """Runs a coroutine on the parametrized event loop."""
    factory = None
    if request.param == "uvloop":
        factory = pytest.importorskip("uvloop").new_event_loop

    def runner(coroutine: Awaitable[Any]) -> Any:
        with asyncio.Runner(loop_factory=factory) as loop:
            return loop.run(coroutine)  # type: ignore[arg-type]

    yield runner


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


def test_the_proxy_hands_the_mesh_this_backend() -> None:
    config = {"providers": {"openai": {"api_key": "sk-x", "base_url": "http://127.0.0.1:9/v1"}}}
    mesh = build_mesh(build_config(["chat-completion"], config=config))
    try:
        app = create_app(mesh)
        pool = app.state.transport._http._pool
        assert isinstance(pool._network_backend, UpstreamBackend)
    finally:
        mesh.close()


def test_keep_alive_connections_are_reused(run: Callable[[Awaitable[Any]], Any]) -> None:
    async def main() -> None:
        async with server(echo_forever) as (origin, accepted):
            async with httpx2.AsyncClient(transport=upstream_transport()) as client:
                for n in range(3):
                    reply = await client.post(origin, content=b"%d" % n)
                    assert reply.content == b"echo:%d" % n
            assert len(accepted) == 1

    run(main())


def test_a_connection_the_server_closed_while_idle_is_not_reused(
    run: Callable[[Awaitable[Any]], Any],
) -> None:
    async def once_then_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await read_request(reader)
        writer.write(answer(b"echo:" + body))  # keep-alive implied (HTTP/1.1), then closed anyway
        await writer.drain()

    async def main() -> None:
        async with server(once_then_close) as (origin, accepted):
            async with httpx2.AsyncClient(transport=upstream_transport()) as client:
                assert (await client.post(origin, content=b"1")).content == b"echo:1"
                await asyncio.sleep(0.1)  # the server's close reaches the idle pooled connection
                assert (await client.post(origin, content=b"2")).content == b"echo:2"
            assert len(accepted) == 2

    run(main())


def test_a_server_that_never_answers_is_a_read_timeout(run: Callable[[Awaitable[Any]], Any]) -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async def main() -> None:
        transport = upstream_transport()
        async with (
            server(silent) as (origin, _),
            httpx2.AsyncClient(transport=transport, timeout=0.3) as client,
        ):
            started = time.monotonic()
            with pytest.raises(httpx2.ReadTimeout):
                await client.post(origin, content=b"x")
            assert time.monotonic() - started < 2.5

    run(main())


def test_a_refused_connection_is_a_connect_error(run: Callable[[Awaitable[Any]], Any]) -> None:
    async def main() -> None:
        async with server(echo_forever) as (origin, _):
            pass  # closed: nothing listens on its port any more
        async with httpx2.AsyncClient(transport=upstream_transport()) as client:
            with pytest.raises(httpx2.ConnectError):
                await client.post(origin, content=b"x")

    run(main())


def test_a_large_answer_read_slowly_arrives_whole(run: Callable[[Awaitable[Any]], Any]) -> None:
    big = bytes(range(256)) * 16 * 1024  # 4 MiB: reading pauses and resumes on the way

    async def large(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(answer(big))
        await writer.drain()
        await asyncio.sleep(1)

    async def main() -> None:
        async with server(large) as (origin, _), httpx2.AsyncClient(transport=upstream_transport()) as client:
            received = bytearray()
            async with client.stream("POST", origin, content=b"x") as reply:
                async for chunk in reply.aiter_raw():
                    received += chunk
                    if len(received) < 1024 * 1024:
                        await asyncio.sleep(0.002)  # a slow reader: the buffer fills past its limit
            assert bytes(received) == big

    run(main())


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made with the openssl command)."""
    if shutil.which("openssl") is None:
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


def test_https_upstreams_are_verified_and_answered(
    run: Callable[[Awaitable[Any]], Any], certificate: tuple[Path, Path]
) -> None:
    cert, key = certificate
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def main() -> None:
        async with server(echo_forever, server_context) as (origin, accepted):
            trusting = ssl.create_default_context(cafile=str(cert))
            async with httpx2.AsyncClient(transport=upstream_transport(trusting)) as client:
                for n in range(2):
                    assert (await client.post(origin, content=b"%d" % n)).content == b"echo:%d" % n
            assert len(accepted) == 1
            async with httpx2.AsyncClient(transport=upstream_transport()) as client:  # the system's CAs
                with pytest.raises(httpx2.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                    await client.post(origin, content=b"x")

    run(main())
