"""Every fault, as a client sees it on the wire (OpenAI through the SDK, Anthropic with raw HTTP).

Delays are kept between 0.05 and 0.3 s. Timing assertions measure from the request's start (a strict
lower bound, less ``SLACK`` for timer granularity) and only use generous upper bounds where the point
is that something did *not* wait.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest

from modelmesh.testing import FakeProvider, Fault

MESSAGES = [{"role": "user", "content": "one two three"}]
CHAT = {"model": "alpha-small", "messages": MESSAGES}
CLAUDE = {"model": "claude-small", "max_tokens": 50, "messages": MESSAGES}
DELAY = 0.15
SLACK = 0.9  # asyncio timers may fire a clock tick early


def sse_data(line: str) -> str | None:
    return line.removeprefix("data: ") if line.startswith("data: ") else None


# -- error faults -------------------------------------------------------------------------------------
def test_429_with_retry_after_raises_rate_limit_error(
    client: openai.OpenAI, openai_fake: FakeProvider
) -> None:
    openai_fake.fail_next(1, Fault.status(429, retry_after=1))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(**CHAT)
    assert caught.value.response.headers["retry-after"] == "1"
    assert caught.value.code == "rate_limit_exceeded"
    assert client.chat.completions.create(**CHAT).choices[0].finish_reason == "stop"


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
        (403, openai.PermissionDeniedError),
    ],
)
def test_status_faults_map_to_sdk_errors(
    client: openai.OpenAI, openai_fake: FakeProvider, code: int, error: type[Exception]
) -> None:
    openai_fake.fail_next(1, Fault.status(code))
    with pytest.raises(error):
        client.chat.completions.create(**CHAT)


def test_status_fault_message_type_and_code_can_be_set(
    client: openai.OpenAI, openai_fake: FakeProvider
) -> None:
    openai_fake.fail_next(
        1, Fault.status(429, message="quota gone", error_type="insufficient_quota", error_code="q")
    )
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(**CHAT)
    assert caught.value.body == {
        "message": "quota gone",
        "type": "insufficient_quota",
        "param": None,
        "code": "q",
    }
    assert "retry-after" not in caught.value.response.headers


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (Fault.context_length(), "context_length_exceeded"),
        (Fault.content_policy(), "content_policy_violation"),
    ],
)
def test_openai_400_codes(client: openai.OpenAI, openai_fake: FakeProvider, fault: Fault, code: str) -> None:
    openai_fake.fail_next(1, fault)
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(**CHAT)
    assert caught.value.code == code


@pytest.mark.parametrize(
    ("fault", "status", "error_type", "text"),
    [
        (Fault.status(429, retry_after=2), 429, "rate_limit_error", "rate limit"),
        (Fault.status(529), 529, "overloaded_error", "Overloaded"),
        (Fault.status(500), 500, "api_error", "Internal"),
        (Fault.context_length(), 400, "invalid_request_error", "prompt is too long"),
        (Fault.content_policy(), 400, "invalid_request_error", "content filtering"),
    ],
)
def test_anthropic_error_shapes(
    anthropic_http: httpx2.Client,
    anthropic_fake: FakeProvider,
    fault: Fault,
    status: int,
    error_type: str,
    text: str,
) -> None:
    anthropic_fake.fail_next(1, fault)
    response = anthropic_http.post("/v1/messages", json=CLAUDE)
    assert response.status_code == status
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == error_type
    assert text in body["error"]["message"]
    assert response.headers.get("retry-after") == ("2" if status == 429 else None)


# -- timing faults ------------------------------------------------------------------------------------
def test_latency_delays_the_whole_response(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    openai_fake.fail_next(1, Fault.latency(DELAY))
    started = time.perf_counter()
    client.chat.completions.create(**CHAT)
    assert time.perf_counter() - started >= DELAY * SLACK


def test_slow_first_token_sends_headers_at_once(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    openai_fake.fail_next(1, Fault.slow_first_token(0.3))
    started = time.perf_counter()
    stream = client.chat.completions.create(**CHAT, stream=True)
    headers_after = time.perf_counter() - started
    first = next(iter(stream))
    first_after = time.perf_counter() - started
    assert headers_after < 0.25
    assert first_after >= 0.3 * SLACK
    assert first.choices[0].delta.role == "assistant"
    stream.close()


def test_slow_first_token_on_a_whole_response_delays_it(
    client: openai.OpenAI, openai_fake: FakeProvider
) -> None:
    openai_fake.fail_next(1, Fault.slow_first_token(DELAY))
    started = time.perf_counter()
    client.chat.completions.create(**CHAT)
    assert time.perf_counter() - started >= DELAY * SLACK


def test_stall_pauses_between_events_then_completes(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    openai_fake.fail_next(1, Fault.stall(2, DELAY))
    started = time.perf_counter()
    arrivals: list[float] = []
    chunks = []
    for chunk in client.chat.completions.create(**CHAT, stream=True):
        arrivals.append(time.perf_counter() - started)
        chunks.append(chunk)
    assert arrivals[2] >= DELAY * SLACK  # the third event came after the pause
    assert arrivals[2] - arrivals[1] >= DELAY / 2  # ... and the pause was between the second and third
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_anthropic_stream_stall(anthropic_http: httpx2.Client, anthropic_fake: FakeProvider) -> None:
    anthropic_fake.fail_next(1, Fault.stall(1, DELAY))
    started = time.perf_counter()
    arrivals = []
    with anthropic_http.stream("POST", "/v1/messages", json={**CLAUDE, "stream": True}) as response:
        for line in response.iter_lines():
            if line.startswith("event: "):
                arrivals.append((line, time.perf_counter() - started))
    assert arrivals[1][1] >= DELAY * SLACK
    assert arrivals[1][1] - arrivals[0][1] >= DELAY / 2
    assert arrivals[-1][0] == "event: message_stop"


# -- broken streams -----------------------------------------------------------------------------------
def test_cut_stream_raises_without_finish_reason(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    openai_fake.fail_next(1, Fault.cut(3))
    received = []
    with pytest.raises((openai.APIConnectionError, httpx2.RemoteProtocolError)):
        for chunk in client.chat.completions.create(**CHAT, stream=True):
            received.append(chunk)
    assert len(received) == 3
    assert all(c.choices[0].finish_reason is None for c in received)


def test_cut_whole_response_is_a_connection_error(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    openai_fake.fail_next(1, Fault.cut(0))
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(**CHAT)


def test_anthropic_cut_stream(anthropic_http: httpx2.Client, anthropic_fake: FakeProvider) -> None:
    anthropic_fake.fail_next(1, Fault.cut(2))
    events = []
    with (
        pytest.raises(httpx2.RemoteProtocolError),
        anthropic_http.stream("POST", "/v1/messages", json={**CLAUDE, "stream": True}) as response,
    ):
        events.extend(line for line in response.iter_lines() if line.startswith("event: "))
    assert events == ["event: message_start", "event: content_block_start"]


def test_malformed_event_then_normal_stream(openai_http: httpx2.Client, openai_fake: FakeProvider) -> None:
    openai_fake.fail_next(1, Fault.malformed(2))
    response = openai_http.post("/v1/chat/completions", json={**CHAT, "stream": True})
    data = [d for d in map(sse_data, response.text.split("\n")) if d is not None]
    assert data[2] == "{not json"
    assert data[-1] == "[DONE]"
    assert json.loads(data[-2])["choices"][0]["finish_reason"] == "stop"


def test_malformed_event_breaks_the_sdk_stream(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    openai_fake.fail_next(1, Fault.malformed(1))
    with pytest.raises(json.JSONDecodeError):
        list(client.chat.completions.create(**CHAT, stream=True))


def test_malformed_whole_response_is_not_json(openai_http: httpx2.Client, openai_fake: FakeProvider) -> None:
    openai_fake.fail_next(1, Fault.malformed(0))
    assert openai_http.post("/v1/chat/completions", json=CHAT).content == b"{not json"


def read_until(lines_in: Iterator[str], marker: str) -> list[str]:
    lines = []
    for line in lines_in:
        lines.append(line)
        if marker in line:
            return lines
    raise AssertionError(f"{marker!r} never came")


def test_no_done_holds_the_stream_open_after_finish_reason(openai_fake: FakeProvider) -> None:
    openai_fake.fail_next(1, Fault.no_done())
    headers = {"authorization": f"Bearer {openai_fake.api_key}"}
    timeout = httpx2.Timeout(5, read=0.2)
    with httpx2.Client(base_url=openai_fake.host_url, headers=headers, timeout=timeout) as http:
        with http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response:
            stream = response.iter_lines()
            lines = read_until(stream, '"finish_reason":"stop"')
            with pytest.raises(httpx2.ReadTimeout):
                lines += list(stream)
        assert "data: [DONE]" not in lines
        # The client gave up; the fake noticed, and serves the next request at once.
        assert http.post("/v1/chat/completions", json=CHAT).status_code == 200


def test_anthropic_no_done_withholds_message_stop(anthropic_fake: FakeProvider) -> None:
    anthropic_fake.fail_next(1, Fault.no_done())
    headers = {"x-api-key": anthropic_fake.api_key, "anthropic-version": "2023-06-01"}
    timeout = httpx2.Timeout(5, read=0.2)
    with (
        httpx2.Client(base_url=anthropic_fake.base_url, headers=headers, timeout=timeout) as http,
        http.stream("POST", "/v1/messages", json={**CLAUDE, "stream": True}) as response,
    ):
        stream = response.iter_lines()
        lines = read_until(stream, '"stop_reason":"end_turn"')
        with pytest.raises(httpx2.ReadTimeout):
            lines += list(stream)
    assert "event: message_stop" not in lines


def test_stop_does_not_wait_for_a_held_stream(openai_fake: FakeProvider) -> None:
    openai_fake.fail_next(1, Fault.no_done())
    headers = {"authorization": f"Bearer {openai_fake.api_key}"}
    with (
        httpx2.Client(base_url=openai_fake.host_url, headers=headers, timeout=5) as http,
        http.stream("POST", "/v1/chat/completions", json={**CHAT, "stream": True}) as response,
    ):
        stream = response.iter_lines()
        read_until(stream, '"finish_reason":"stop"')
        started = time.perf_counter()
        openai_fake.stop()
        assert time.perf_counter() - started < 0.5
        with pytest.raises(httpx2.RemoteProtocolError):
            list(stream)


# -- connection and header faults ---------------------------------------------------------------------
def test_reset_closes_the_connection_without_a_response(
    client: openai.OpenAI, openai_fake: FakeProvider
) -> None:
    openai_fake.fail_next(1, Fault.reset())
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(**CHAT)
    assert client.chat.completions.create(**CHAT).choices[0].message.content


def test_anthropic_reset(anthropic_http: httpx2.Client, anthropic_fake: FakeProvider) -> None:
    anthropic_fake.fail_next(1, Fault.reset())
    with pytest.raises(httpx2.RemoteProtocolError):
        anthropic_http.post("/v1/messages", json=CLAUDE)


def test_openai_rate_limit_headers(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    openai_fake.set_outage(Fault.rate_limit_headers(100, 7, 5000, 123))
    raw = client.chat.completions.with_raw_response.create(**CHAT)
    assert raw.headers["x-ratelimit-limit-requests"] == "100"
    assert raw.headers["x-ratelimit-remaining-requests"] == "7"
    assert raw.headers["x-ratelimit-limit-tokens"] == "5000"
    assert raw.headers["x-ratelimit-remaining-tokens"] == "123"
    assert raw.parse().choices[0].finish_reason == "stop"


def test_anthropic_rate_limit_headers(anthropic_http: httpx2.Client, anthropic_fake: FakeProvider) -> None:
    anthropic_fake.fail_next(1, Fault.rate_limit_headers(50, 0))
    response = anthropic_http.post("/v1/messages", json={**CLAUDE, "stream": True})
    assert response.headers["anthropic-ratelimit-requests-limit"] == "50"
    assert response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert response.headers["anthropic-ratelimit-requests-reset"].endswith("Z")
    assert "anthropic-ratelimit-tokens-limit" not in response.headers
    assert "event: message_stop" in response.text


@pytest.mark.parametrize("fault", [Fault.status(503), Fault.reset(), Fault.latency(0.05)])
def test_faults_apply_to_other_endpoints(
    client: openai.OpenAI, openai_fake: FakeProvider, fault: Fault
) -> None:
    openai_fake.fail_next(1, fault)
    kwargs: dict[str, Any] = {"model": "alpha-small", "input": "x"}
    if fault.kind == "latency":
        assert client.embeddings.create(**kwargs).data
    else:
        with pytest.raises((openai.InternalServerError, openai.APIConnectionError)):
            client.embeddings.create(**kwargs)


def test_cut_speech_stream(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    openai_fake.fail_next(1, Fault.cut(2))
    with (
        pytest.raises((openai.APIConnectionError, httpx2.RemoteProtocolError)),
        client.audio.speech.with_streaming_response.create(
            model="alpha-small", voice="alloy", input="x"
        ) as r,
    ):
        b"".join(r.iter_bytes())
