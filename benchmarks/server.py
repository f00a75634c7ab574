"""A minimal OpenAI-compatible chat server for benchmarks, run in its own process.

Why not ``modelmesh.testing.FakeProvider``: it runs uvicorn + Starlette in a thread of the benchmark
process, so its CPU time shares the GIL with the client being measured and dilutes (and blurs) the
client's overhead. This server is plain asyncio with pre-rendered bodies (tens of microseconds per
request) in a separate process, so the numbers are dominated by the clients. Both clients of every
comparison talk to the same instance.

It answers ``POST .../chat/completions`` (whole JSON, or SSE when the body has ``"stream": true``)
and ``GET .../models``, over HTTP/1.1 keep-alive. Run: ``python -m benchmarks.server`` prints the port.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys

STREAM_CHUNKS = 32  # content events per streamed answer (plus the finish and usage events)
MODEL = "gpt-4o-mini"
WORDS = [
    "The",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "while",
    "the",
    "router",
    "keeps",
    "every",
    "request",
    "answered.",
]


def _completion() -> bytes:
    text = " ".join(WORDS[i % len(WORDS)] for i in range(STREAM_CHUNKS))
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1700000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": STREAM_CHUNKS,
            "total_tokens": 12 + STREAM_CHUNKS,
        },
        "system_fingerprint": "fp_bench",
    }
    return json.dumps(body).encode()


def _event(delta: dict[str, object], finish: str | None = None, usage: dict[str, int] | None = None) -> bytes:
    chunk = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
    }
    if usage is not None:
        chunk["choices"] = []
        chunk["usage"] = usage
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def stream_events() -> list[bytes]:
    events = [_event({"role": "assistant", "content": ""})]
    events += [_event({"content": WORDS[i % len(WORDS)] + " "}) for i in range(STREAM_CHUNKS)]
    events.append(_event({}, finish="stop"))
    events.append(
        _event({}, usage={"prompt_tokens": 12, "completion_tokens": STREAM_CHUNKS, "total_tokens": 44})
    )
    events.append(b"data: [DONE]\n\n")
    return events


def _chunked(parts: list[bytes]) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"


COMPLETION = _completion()
WHOLE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(COMPLETION)
    + COMPLETION
)
STREAM = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\n"
    b"transfer-encoding: chunked\r\n\r\n" + _chunked(stream_events())
)
MODELS_BODY = json.dumps(
    {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "bench"}]}
).encode()
MODELS = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n" % len(MODELS_BODY)
    + MODELS_BODY
)
NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            request_line, _, header_block = head.partition(b"\r\n")
            length = 0
            for line in header_block.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            method, path = request_line.split(b" ")[:2]
            if method == b"POST" and path.endswith(b"/chat/completions"):
                is_stream = b'"stream":true' in body.replace(b" ", b"")
                writer.write(STREAM if is_stream else WHOLE)
            elif method == b"GET" and path.endswith(b"/models"):
                writer.write(MODELS)
            else:
                writer.write(NOT_FOUND)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def _main() -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(_main())
    except KeyboardInterrupt:
        sys.exit(0)
