"""Resource limits of the proxy (issue 9, #6; issue 11, #4): body size, read deadlines, concurrency, JSON.

Slow and oversized clients are raw sockets, so each test controls exactly which bytes arrive when.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import Any

import httpx2
import openai
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from modelmesh.serve.protocols import HTTPTOOLS, MAX_HEAD_BYTES, default_protocol, header_deadline_protocol
from modelmesh.testing import FakeProvider, Fault
from tests.serve.conftest import HELLO, Proxy, ProxyServer, ServerThread, access_lines, mesh_config

CHAT = {"model": "chat-completion", "messages": HELLO}
# The head deadline and size limit on both request parsers: httptools (the default once installed) and h11.
PARSERS = [
    pytest.param("httptools", marks=pytest.mark.skipif(not HTTPTOOLS, reason="httptools is not installed")),
    "h11",
]


def connect(server: ProxyServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return sock


def head(path: str, *lines: str) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n" + "".join(f"{x}\r\n" for x in lines) + "\r\n"
    ).encode()


def read_reply(sock: socket.socket) -> tuple[int, bytes]:
    """(status, raw reply) read until the server closes or a whole small reply arrived."""
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1]), data


def is_closed(sock: socket.socket, within_s: float) -> bool:
    sock.settimeout(within_s)
    try:
        while sock.recv(65536):
            pass
    except TimeoutError:
        return False
    except ConnectionResetError:
        pass
    return True


def test_a_body_over_the_limit_is_a_413_the_sdk_understands(proxy: Proxy) -> None:
    server = proxy(max_body_bytes=4096)
    big = [{"role": "user", "content": "x" * 5000}]
    with server.client() as client, pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="chat-completion", messages=big)
    assert caught.value.status_code == 413
    assert caught.value.body["code"] == "request_too_large"  # type: ignore[index]
    assert "4,096 bytes" in caught.value.message and "--max-body-mb" in caught.value.message
    with server.client() as client:  # a body under the limit still goes through
        assert client.chat.completions.create(model="chat-completion", messages=HELLO).model == "gpt-4o"


def test_a_declared_length_over_the_limit_is_refused_before_reading(proxy: Proxy) -> None:
    server = proxy(max_body_bytes=4096)
    with connect(server) as sock:
        sock.sendall(
            head("/v1/chat/completions", "Content-Type: application/json", "Content-Length: 100000000")
        )
        status, reply = read_reply(sock)  # no body byte was sent
    assert status == 413 and b"request_too_large" in reply


def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit(proxy: Proxy) -> None:
    server = proxy(max_body_bytes=64 * 1024)
    chunk = b"x" * 16384
    with connect(server) as sock:
        sock.sendall(
            head("/v1/chat/completions", "Content-Type: application/json", "Transfer-Encoding: chunked")
        )
        for _ in range(5):  # 80 KB sent, and the client never ends the body
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        status, reply = read_reply(sock)
    assert status == 413 and b"request_too_large" in reply


def test_a_slow_body_gets_a_408(proxy: Proxy) -> None:
    server = proxy(body_timeout_s=0.5)
    body = json.dumps(CHAT).encode()
    with connect(server) as sock:
        sock.sendall(
            head("/v1/chat/completions", "Content-Type: application/json", f"Content-Length: {len(body)}")
        )
        sock.sendall(body[:10])  # ... and the rest never comes
        started = time.monotonic()
        status, reply = read_reply(sock)
    assert status == 408 and b"request_timeout" in reply
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("parser", PARSERS)
def test_a_request_head_sent_byte_by_byte_is_cut_off(proxy: Proxy, parser: str) -> None:
    server = proxy(uvicorn={"http": header_deadline_protocol(1.0, parser)})
    with connect(server) as sock:
        started = time.monotonic()
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\n")
        closed = False
        for _ in range(40):  # a header byte every 0.1 s would hold the connection forever
            try:
                sock.sendall(b"X")
            except OSError:
                closed = True
                break
            if is_closed(sock, 0.1):
                closed = True
                break
        assert closed, "the connection outlived its header deadline"
        assert time.monotonic() - started < 2.5


@pytest.mark.parametrize("parser", PARSERS)
def test_a_silent_connection_is_closed_at_the_header_deadline(proxy: Proxy, parser: str) -> None:
    server = proxy(uvicorn={"http": header_deadline_protocol(0.5, parser)})
    with connect(server) as sock:
        assert is_closed(sock, 2.5)


@pytest.mark.parametrize("parser", PARSERS)
def test_a_keep_alive_connection_gets_a_new_head_deadline(proxy: Proxy, parser: str) -> None:
    server = proxy(uvicorn={"http": header_deadline_protocol(0.5, parser)})
    with connect(server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_reply(sock)[0] == 200
        sock.sendall(b"GET /health/live HTTP/1.1\r\n")  # the next head starts, and never ends
        assert is_closed(sock, 2.5)


@pytest.mark.parametrize("parser", PARSERS)
def test_a_request_head_over_16_kib_is_refused(proxy: Proxy, parser: str) -> None:
    server = proxy(uvicorn={"http": header_deadline_protocol(5.0, parser)})
    with connect(server) as sock:
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\n")
        for n in range(MAX_HEAD_BYTES // 1000 + 3):  # each header is small, all of them too many
            try:
                sock.sendall(b"X-Filler-%d: %s\r\n" % (n, b"x" * 1000))
            except (BrokenPipeError, ConnectionResetError):
                break  # the server already refused and closed: what this test wants, seen early
        data = sock.recv(65536)  # refused before the head ends
        assert data.startswith(b"HTTP/1.1 400"), data
        assert is_closed(sock, 2.5)
    with connect(server) as sock:  # a head just under the limit is fine
        sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: x\r\nX-Filler: %s\r\n\r\n" % (b"x" * 15000))
        assert read_reply(sock)[0] == 200


@pytest.mark.parametrize("parser", PARSERS)
def test_a_pipelined_request_is_not_cut_off_by_the_head_deadline(
    proxy: Proxy, parser: str, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    fakes[0].script([None, Fault.latency(0.4)])  # the second answer takes longer than the deadline
    server = proxy(uvicorn={"http": header_deadline_protocol(0.2, parser)})
    body = json.dumps(CHAT).encode()
    one = (
        head("/v1/chat/completions", "Content-Type: application/json", f"Content-Length: {len(body)}") + body
    )
    with connect(server) as sock:
        sock.sendall(one + one)  # both requests at once: the second waits for the first's answer
        data = b""
        while data.count(b"HTTP/1.1 200") < 2 or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            assert chunk, f"the connection closed before both answers: {data!r}"
            data += chunk
    assert fakes[0].calls() == 2


def test_the_proxy_parses_with_httptools_when_installed() -> None:
    expected = "HttpToolsDeadlineProtocol" if HTTPTOOLS else "HeaderDeadlineProtocol"
    assert default_protocol().__name__ == expected


def test_over_the_concurrency_limit_a_503_says_so(
    proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    fakes[0].set_outage(Fault.latency(1.0))
    config = mesh_config(*fakes)
    config["pools"]["chat-completion"]["timeouts"] = {"read_s": 5, "first_token_s": 5, "total_s": 10}
    server = proxy(config=config, max_concurrency=1)
    slow = threading.Thread(
        target=httpx2.post, args=(f"{server.url}/chat/completions",), kwargs={"json": CHAT}
    )
    slow.start()
    try:
        deadline = time.monotonic() + 5
        while fakes[0].calls() == 0:  # until the slow request is in flight at the provider
            assert time.monotonic() < deadline, "the slow request never reached the provider"
            time.sleep(0.01)
        with server.client() as client, pytest.raises(openai.InternalServerError) as caught:
            client.chat.completions.create(model="chat-completion", messages=HELLO)
    finally:
        slow.join(10)
    assert caught.value.status_code == 503
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.body["code"] == "proxy_overloaded"  # type: ignore[index]
    assert "--max-concurrency" in caught.value.message
    assert fakes[0].calls() == 1  # the refused request never reached a provider


def test_a_client_leaving_mid_body_logs_no_traceback(
    proxy: Proxy, caplog: pytest.LogCaptureFixture, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    caplog.set_level(logging.INFO)
    server = proxy()
    with connect(server) as sock:
        sock.sendall(head("/v1/chat/completions", "Content-Type: application/json", "Content-Length: 1000"))
        sock.sendall(b'{"model": "chat-')
    time.sleep(0.3)
    with server.client() as client:  # the proxy is unaffected
        assert client.chat.completions.create(model="chat-completion", messages=HELLO).model == "gpt-4o"
    assert fakes[0].calls() == 1
    access = access_lines(caplog, '"POST /v1/chat/completions" 499')
    assert [r.getMessage() for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR] == []
    assert any('"POST /v1/chat/completions" 499' in line for line in access), access


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"model": "chat-completion", "messages": [', "not valid JSON"),
        (b"hello there", "not valid JSON"),
        (b"", "empty"),
        (b'["chat-completion"]', "must be an object ({...}), not an array"),
        (b"null", "not null"),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 64"),
        (b'{"a": ' * 65 + b"1" + b"}" * 65, "nested deeper than 64"),
        (b"[" * 100_000, "nested deeper than 64"),
        (b'{"model": "chat-completion", "model": "gpt-4o", "messages": []}', '"model" more than once'),
        (b'{"model": "\xff"}', "not UTF-8"),
        (b'{"model": "chat-completion", "n": ' + b"1" * 5000 + b"}", "a number has too many digits"),
    ],
    ids=[
        "truncated",
        "text",
        "empty",
        "array",
        "null",
        "deep",
        "deep-objects",
        "unbalanced",
        "two-models",
        "binary",
        "huge-number",
    ],
)
def test_bodies_that_are_not_one_sound_json_object_are_a_400(
    proxy: Proxy, body: bytes, fragment: str, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    server = proxy()
    reply = httpx2.post(
        f"{server.url}/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["code"] == "invalid_request_body" and fragment in error["message"]
    assert fakes[0].calls() == fakes[1].calls() == 0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"[" * 4_000_000 + b"]" * 4_000_000, "nested deeper than 64"),  # a scan per level: ~7 s
        (b"[" + b"[]," * 70 + b'"' + b'\\"' * 40_000, "not valid JSON"),  # a backtracking regex: ~25 s
    ],
    ids=["brackets", "escaped-quotes"],
)
def test_hostile_bodies_are_refused_at_once(proxy: Proxy, body: bytes, fragment: str) -> None:
    """The nesting check is linear (no CPU amplification) and stops at the first level past the limit."""
    server = proxy()
    started = time.monotonic()
    reply = httpx2.post(
        f"{server.url}/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 400 and fragment in reply.json()["error"]["message"]
    assert time.monotonic() - started < 2.5


def test_nesting_up_to_the_limit_is_fine(proxy: Proxy) -> None:
    server = proxy()
    deep = {"model": "chat-completion", "messages": HELLO, "metadata": {}}
    node = deep["metadata"]
    for _ in range(40):
        node["x"] = {}
        node = node["x"]
    tricky = [{"role": "user", "content": "[[[[" * 100}]  # brackets inside strings do not nest
    for body in (deep, {"model": "chat-completion", "messages": tricky}):
        reply = httpx2.post(f"{server.url}/chat/completions", json=body)
        assert reply.status_code == 200, reply.text


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE"])
def test_routed_endpoints_take_post_only(
    proxy: Proxy, method: str, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    server = proxy()
    for path in ("/chat/completions", "/embeddings", "/audio/transcriptions"):
        reply = httpx2.request(method, f"{server.url}{path}", json=CHAT)
        assert reply.status_code == 405 and reply.headers["allow"] == "POST", reply.text
        assert reply.json()["error"]["code"] == "method_not_allowed"
    assert fakes[0].calls() == fakes[1].calls() == 0  # nothing reached a provider to fail there
    assert httpx2.get(f"{server.origin}/health/ready").status_code == 200


def test_the_readme_curl_example_works(proxy: Proxy) -> None:
    """``curl -d`` sends ``application/x-www-form-urlencoded``: the JSON body is still what counts."""
    server = proxy()
    reply = httpx2.post(
        f"{server.url}/chat/completions",
        content=b'{"model": "chat-completion", "messages": [{"role": "user", "content": "hi"}]}',
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["model"] == "gpt-4o"


class EndlessSpeech:
    """An upstream that streams audio for as long as it is read; it records when its reader hangs up."""

    def __init__(self) -> None:
        self.closed = threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        headers = [(b"content-type", b"audio/mpeg")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            for _ in range(20_000):  # 1.3 GB at most: far more than any socket buffers
                await send({"type": "http.response.body", "body": b"\0" * 65536, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            self.closed.set()


def test_a_client_that_stops_reading_is_cut_off(proxy: Proxy) -> None:
    upstream = EndlessSpeech()
    speaker = ServerThread(Starlette(routes=[Route("/v1/audio/speech", upstream, methods=["POST"])]))
    try:
        provider = {"api_key": "sk-speech-123456", "base_url": f"{speaker.origin}/v1", "models": ["tts-1"]}
        config = {
            "providers": {"openai": provider},
            "pools": {"text-to-speech": {"capability": "text-to-speech"}},
        }
        server = proxy(config=config, send_timeout_s=1.0)
        body = json.dumps({"model": "text-to-speech", "voice": "alloy", "input": "hi"}).encode()
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", server.port))
            sock.sendall(head("/v1/audio/speech", f"Content-Length: {len(body)}") + body)
            # ... and never reads: the proxy's writes block, then the relay is cut off.
            assert upstream.closed.wait(8), "the relay kept a stream open for a client that reads nothing"
    finally:
        speaker.stop()
