"""Load generators for ``make bench-proxy``: closed-loop and open-loop HTTP/1.1 on raw asyncio sockets.

A pre-rendered non-streamed chat request over keep-alive connections, so the generator's own cost (a
few microseconds per request) stays far below any proxy's. Closed loop: N clients, each sending its
next request when the last answer arrived. Open loop: requests start on a fixed schedule whatever the
answers do, and latency counts from the scheduled start (so a slow server cannot hide its queue).
"""

from __future__ import annotations

import asyncio
import json
import socket
import time

KEY = "sk-bench-proxy-key-0123456789"
BODY = json.dumps({"model": "chat-completion", "messages": [{"role": "user", "content": "Hello!"}]}).encode()
MAX_CONNECTIONS = 512  # open loop: beyond this, requests queue for a free connection (file descriptors)

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def request_bytes(path: str) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    head += f"Authorization: Bearer {KEY}\r\nContent-Length: {len(BODY)}\r\n\r\n"
    return head.encode() + BODY


async def connect(port: int) -> Connection:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return reader, writer


async def exchange(connection: Connection, request: bytes) -> bool:
    """Send one request and read its whole answer; True for a 200."""
    reader, writer = connection
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return head.startswith(b"HTTP/1.1 200")


async def closed_loop(
    port: int, path: str, concurrency: int, seconds: float
) -> tuple[list[float], int, float]:
    """(latencies, errors, elapsed) of ``concurrency`` clients sending back to back for ``seconds``."""
    request = request_bytes(path)
    latencies: list[float] = []
    errors = 0

    async def client(until: float) -> None:
        nonlocal errors
        connection = await connect(port)
        try:
            while time.perf_counter() < until:
                start = time.perf_counter()
                ok = await exchange(connection, request)
                latencies.append(time.perf_counter() - start)
                errors += not ok
        finally:
            connection[1].close()

    start = time.perf_counter()
    await asyncio.gather(*(client(start + seconds) for _ in range(concurrency)))
    return latencies, errors, time.perf_counter() - start


async def open_loop(
    port: int, path: str, rate: float, seconds: float, timeout_s: float = 5.0
) -> tuple[list[float], int, float]:
    """(latencies, errors, elapsed) of requests started at ``rate`` per second for ``seconds``.

    A request not answered within ``timeout_s`` of its scheduled start counts as an error.
    """
    request = request_bytes(path)
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    opened = 0
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float) -> None:
        nonlocal opened, errors
        connection = None
        try:
            async with asyncio.timeout(scheduled + timeout_s - time.perf_counter()):
                if idle.empty() and opened < MAX_CONNECTIONS:
                    opened += 1
                    connection = await connect(port)
                else:
                    connection = await idle.get()
                ok = await exchange(connection, request)
            latencies.append(time.perf_counter() - scheduled)
            errors += not ok
            idle.put_nowait(connection)
        except (TimeoutError, OSError, asyncio.IncompleteReadError):
            errors += 1
            if connection is not None:  # its answer may still arrive: never reuse it
                connection[1].close()
                opened -= 1

    start = time.perf_counter()
    tasks = []
    for i in range(int(rate * seconds)):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        idle.get_nowait()[1].close()
    return latencies, errors, time.perf_counter() - start
