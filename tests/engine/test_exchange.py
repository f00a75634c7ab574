"""The edges of a routed request, built for speed, must say exactly what httpx2's own constructors say."""

from __future__ import annotations

import json
from typing import Any

import httpx2
import pytest

import modelmesh
from modelmesh.engine.exchange import provider_request, whole_answer
from modelmesh.engine.streaming import StreamMonitor
from modelmesh.routing.run import Attempt, RoutingRun

CONFIG = {
    "providers": {
        "openai": {
            "api_key": "sk-test-exchange",
            "base_url": "http://127.0.0.1:9/v1",
            "models": ["gpt-4o-mini"],
            "headers": {"X-Title": "mesh"},
        }
    },
    "pools": {"chat": {"capability": "chat-completion", "models": ["gpt-4o-mini"]}},
}


def _started(body: dict[str, Any]) -> tuple[RoutingRun, Attempt]:
    mesh = modelmesh.create("chat", config=CONFIG).mesh
    sdk = httpx2.Request(
        "POST",
        "http://modelmesh.local/v1/chat/completions",
        headers={"accept": "application/json"},
        json=body,
    )
    run = mesh.begin(sdk)
    assert isinstance(run, RoutingRun)
    attempt = run.next_step()
    assert isinstance(attempt, Attempt)
    attempt.outbound = attempt.connector.build_request(run.request, attempt.model, attempt.provider)
    return run, attempt


def test_the_provider_request_is_what_httpx2_would_build() -> None:
    _run, attempt = _started({"model": "chat", "messages": [{"role": "user", "content": "hé"}]})
    built = provider_request(attempt)
    out = attempt.outbound
    assert out is not None
    reference = httpx2.Request(
        out.method, out.url, headers={**out.headers, "accept-encoding": "identity"}, content=out.content
    )
    assert built.method == reference.method and built.url == reference.url
    assert sorted(built.headers.multi_items()) == sorted(reference.headers.multi_items())
    assert built.content == reference.content == out.content
    assert json.loads(built.content)["model"] == "gpt-4o-mini"
    assert built.extensions["timeout"]["read"] == attempt.read_s


def test_a_whole_answer_reads_the_same_with_or_without_the_primed_body() -> None:
    run, attempt = _started({"model": "chat", "messages": [{"role": "user", "content": "hi"}]})
    body = b'{"id":"x","choices":[]}'
    upstream = httpx2.Response(
        200, headers={"content-type": "application/json", "content-length": "999"}, content=body
    )
    answer = whole_answer(run, attempt, upstream, body)
    assert answer.read() == body
    assert answer.headers["content-length"] == str(len(body))  # the provider's length is not relayed
    assert answer.headers["x-modelmesh-model"] == "gpt-4o-mini"
    fresh = whole_answer(run, attempt, upstream, body)
    del fresh._content  # as if httpx2 stopped honouring the primed body: the stream gives the same bytes
    assert fresh.read() == body


EVENTS = [
    b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n',
    b'data: {"choices":[{"index":0,"delta":{"content":"Hel"},"finish_reason":null}]}\n\n',
    b": keep-alive\n\n",
    b'data: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":null}]}\n\n',
    b"data: {not json}\n\n",
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
    b"data: [DONE]\n\n",
]


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param(EVENTS, id="one-event-per-chunk"),
        pytest.param([b"".join(EVENTS)], id="all-in-one-chunk"),
        pytest.param([b"".join(EVENTS).replace(b"\n", b"\r\n")], id="crlf"),
        pytest.param([bytes([byte]) for byte in b"".join(EVENTS)], id="byte-by-byte"),
    ],
)
def test_the_monitor_sees_the_same_stream_however_it_is_cut(chunks: list[bytes]) -> None:
    monitor = StreamMonitor(None, keep_payloads=True)
    out = b"".join(monitor.feed(chunk) for chunk in chunks)
    assert out == b"".join(
        EVENTS[:2] + EVENTS[3:4] + EVENTS[5:]
    )  # keep-alive and the malformed event dropped
    assert (monitor.partial_text(), monitor.malformed, monitor.finished, monitor.done) == (
        "Hello",
        1,
        True,
        True,
    )
    assert monitor.progress == 3
    assert [p is None for p in monitor.take_payloads()] == [False, False, False, False, True]
