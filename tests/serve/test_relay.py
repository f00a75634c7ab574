"""What leaves the proxy from a provider (issue 9, #9): an allow-list of headers, error text on request.

A "leaky" upstream sends what real providers and their load balancers send (cookies, organisation ids,
internal tracing headers, error bodies with DSNs); the proxy's clients must see none of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from modelmesh.testing import FakeProvider, Fault
from tests.serve.conftest import FAST_POOL, HELLO, Proxy, ServerThread, mesh_config

INTERNAL = "postgres://admin:hunter2@db.internal.example:5432/billing"
LEAKY_HEADERS = {
    "set-cookie": "session=abc123; HttpOnly",
    "openai-organization": "org-secret-tenant",
    "openai-project": "proj_internal",
    "x-internal-trace": "pod-7f9c/az-eu-2",
    "via": "1.1 envoy-internal",
    "x-request-id": "req_relay_1",
    "openai-processing-ms": "12",
    "x-ratelimit-remaining-requests": "99",
}


async def _chat(request: Request) -> JSONResponse:
    body = await request.json()
    answer = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 0,
        "model": body["model"],
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    return JSONResponse(answer, headers=LEAKY_HEADERS)


@pytest.fixture(scope="module")
def leaky() -> Iterator[ServerThread]:
    server = ServerThread(Starlette(routes=[Route("/v1/chat/completions", _chat, methods=["POST"])]))
    yield server
    server.stop()


def one_provider(base_url: str, api_key: str) -> dict[str, Any]:
    provider = {"api_key": api_key, "base_url": base_url, "models": ["gpt-4o"]}
    return {
        "providers": {"openai": provider},
        "pools": {"chat-completion": {"capability": "chat-completion", **FAST_POOL}},
    }


def test_only_allow_listed_upstream_headers_reach_the_client(proxy: Proxy, leaky: ServerThread) -> None:
    server = proxy(config=one_provider(f"{leaky.origin}/v1", "sk-leaky-123456"))
    with server.client() as client:
        raw = client.chat.completions.with_raw_response.create(model="chat-completion", messages=HELLO)
    headers = raw.headers
    assert raw.parse().choices[0].message.content == "hi"
    for kept in ("x-request-id", "openai-processing-ms", "x-ratelimit-remaining-requests", "content-type"):
        assert headers[kept] == LEAKY_HEADERS.get(kept, headers[kept])
    assert headers["x-modelmesh-provider"] == "openai"
    for dropped in ("set-cookie", "openai-organization", "openai-project", "x-internal-trace", "via"):
        assert dropped not in headers, dropped
    assert "org-secret-tenant" not in str(headers.raw)


def test_provider_error_text_is_replaced_when_redaction_is_on(
    proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="modelmesh.serve")
    message = f"db down: {INTERNAL}\nERROR forged log line"
    for fake in fakes:
        fake.set_outage(Fault.status(500, message=message, error_type="server_error", error_code="db"))
    with (
        proxy(redact_provider_errors=True).client() as client,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    assert caught.value.status_code == 500
    assert caught.value.body == {  # type: ignore[comparison-overlap]
        "message": "Every provider failed; the last answered HTTP 500 (server_error, db). Details are in the "
        "proxy's logs.",
        "type": "server_error",
        "code": "db",
        "param": None,
    }
    assert "db.internal" not in caught.value.response.text
    # The operator's log keeps the text (escaped: a provider cannot forge log lines).
    logged = [r.getMessage() for r in caplog.records if "relayed without its text" in r.getMessage()]
    assert logged and "db.internal" in logged[0] and "\n" not in logged[0]


def test_without_redaction_the_provider_text_is_relayed(
    proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    for fake in fakes:
        fake.set_outage(Fault.status(500, message=f"db down: {INTERNAL}"))
    with (
        proxy(redact_provider_errors=False).client() as client,
        pytest.raises(openai.InternalServerError) as caught,
    ):
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    assert "db.internal" in caught.value.message  # what the option above removes


def test_local_answers_keep_their_text_under_redaction(proxy: Proxy) -> None:
    with proxy(redact_provider_errors=True).client() as client, pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="no-such-pool", messages=HELLO)
    assert "Valid pools: chat-completion" in caught.value.message  # the mesh's own words, no provider's


def test_an_unreachable_provider_names_no_address_under_redaction(proxy: Proxy) -> None:
    config = one_provider("http://127.0.0.1:9/v1", "sk-unreachable-123456")  # port 9: discard, closed
    server = proxy(config=config, redact_provider_errors=True)
    with server.client() as client, pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    assert caught.value.status_code == 502
    message = caught.value.body["message"]  # type: ignore[index]
    assert message == "Every provider could not be reached. Details are in the proxy's logs."
    assert "127.0.0.1:9" not in caught.value.response.text


def test_a_broken_stream_event_hides_the_reason_under_redaction(
    proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    fakes[0].set_outage(Fault.cut(after_events=2))
    with proxy(redact_provider_errors=True).client() as client:
        events = client.chat.completions.create(model="chat-completion", messages=HELLO, stream=True)
        with events, pytest.raises(openai.APIError) as caught:
            list(events)
    assert caught.value.message == "The stream broke after content was delivered; the answer is incomplete."
    assert caught.value.body["type"] == "stream_interrupted"  # type: ignore[index]


@pytest.mark.parametrize("status", [429, 503])
def test_a_request_every_provider_failed_says_when_to_retry(
    proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider], status: int
) -> None:
    for fake in fakes:
        fake.set_outage(Fault.status(status))  # no Retry-After from the providers
    config = mesh_config(*fakes)
    config["pools"]["chat-completion"]["recovery"] = {"cooldown_s": 42}
    with proxy(config=config).client() as client, pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    assert caught.value.status_code == status
    assert 40 <= int(caught.value.response.headers["retry-after"]) <= 42  # when the first model is back
    assert caught.value.response.headers["x-should-retry"] == "false"


def test_a_stream_keeps_no_length_and_a_whole_body_gets_its_own(proxy: Proxy) -> None:
    server = proxy()
    whole = httpx2.post(
        f"{server.url}/chat/completions", json={"model": "chat-completion", "messages": HELLO}
    )
    assert int(whole.headers["content-length"]) == len(whole.content)


class SlowUpstream:
    """An OpenAI-compatible upstream that never answers; it records when its client hangs up."""

    def __init__(self) -> None:
        self.started, self.closed = threading.Event(), threading.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        self.started.set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                while (await receive())["type"] != "http.disconnect":
                    pass
                self.closed.set()
                return
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})


def test_a_client_leaving_before_the_first_byte_cancels_the_run(proxy: Proxy) -> None:
    upstream = SlowUpstream()
    slow = ServerThread(Starlette(routes=[Route("/v1/chat/completions", upstream)]))
    try:
        config = one_provider(f"{slow.origin}/v1", "sk-slow-123456")
        config["pools"]["chat-completion"]["timeouts"] = {"read_s": 30, "first_token_s": 30, "total_s": 60}
        server = proxy(config=config)
        body = json.dumps({"model": "chat-completion", "messages": HELLO}).encode()
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            head = f"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n"
            sock.sendall(head.encode() + body)
            assert upstream.started.wait(5), "the request did not reach the upstream"
        # The client is gone before any byte of the answer: the proxy stops the run and hangs up too.
        assert upstream.closed.wait(3), "the upstream request was left running"
    finally:
        slow.stop()


async def test_the_request_task_waits_for_the_run_or_the_client_leaving() -> None:
    """``app._unless_client_leaves``: the answer, a disconnect, and a shutdown's cancel, each one way."""
    from modelmesh.serve.app import _unless_client_leaves

    left = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await left.wait()
        return {"type": "http.disconnect"}

    async def answer(seconds: float) -> httpx2.Response:
        await asyncio.sleep(seconds)
        return httpx2.Response(200)

    run = asyncio.ensure_future(answer(0.01))
    assert await _unless_client_leaves(run, receive) is True  # the answer came first
    assert run.result().status_code == 200
    assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    run = asyncio.ensure_future(answer(5))
    asyncio.get_running_loop().call_later(0.01, left.set)
    assert await _unless_client_leaves(run, receive) is False  # the client left: the run is stopped
    assert run.cancelled()

    left.clear()
    run = asyncio.ensure_future(answer(5))
    waiting = asyncio.ensure_future(_unless_client_leaves(run, receive))
    await asyncio.sleep(0.01)
    waiting.cancel()  # uvicorn cancelling a request at the end of the shutdown grace period
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert run.cancelled()
