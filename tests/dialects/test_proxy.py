"""``/v1/responses`` and ``/v1/messages`` over real HTTP: the ``openai`` and ``anthropic`` SDKs against the
proxy (uvicorn in a thread) against an OpenAI-dialect and an Anthropic-dialect fake."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from modelmesh.builder import build_mesh
from modelmesh.client import build_config
from modelmesh.serve import ProxySettings
from modelmesh.testing import FakeProvider, Fault
from tests.dialects.conftest import CLAUDE, GPT, cut_after_content, mesh_config
from tests.serve.conftest import KEY, ProxyServer

Fakes = tuple[FakeProvider, FakeProvider]
HI: Any = [{"role": "user", "content": "Hi there"}]


@pytest.fixture
def proxy(both: Fakes) -> Iterator[Callable[[str], ProxyServer]]:
    servers: list[ProxyServer] = []

    def start(order: str) -> ProxyServer:
        mesh = build_mesh(build_config([], config=mesh_config(*both, order)))
        servers.append(ProxyServer(mesh, KEY, ProxySettings()))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def anthropic_client(server: ProxyServer, **options: Any) -> anthropic.Anthropic:
    options.setdefault("api_key", KEY)
    return anthropic.Anthropic(base_url=server.origin, max_retries=0, **options)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_responses_over_http_fail_over_from_openai_to_anthropic(
    both: Fakes, proxy: Callable[[str], ProxyServer], stream: bool
) -> None:
    both[0].fail_next(1, Fault.status(503))
    with proxy("openai-then-anthropic").client(api_key=KEY, max_retries=0) as client:
        if stream:
            events = list(client.responses.create(model="chat-completion", input="Hi there", stream=True))
            assert events[0].type == "response.created" and events[-1].type == "response.completed"
            response = events[-1].response
        else:
            response = client.responses.create(model="chat-completion", input="Hi there")
    assert response.model == CLAUDE
    assert response.output_text == f"Hello from {CLAUDE}! You said: Hi there"


def test_responses_refusals_are_openai_errors_over_http(
    both: Fakes, proxy: Callable[[str], ProxyServer]
) -> None:
    with proxy("openai").client(api_key=KEY, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            client.responses.create(model="chat-completion", input="Hi", previous_response_id="resp_1")
        assert "previous_response_id" in caught.value.message
        with pytest.raises(openai.AuthenticationError):
            client.with_options(api_key="wrong").responses.create(model="chat-completion", input="Hi")


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_messages_over_http_fail_over_from_anthropic_to_openai(
    both: Fakes, proxy: Callable[[str], ProxyServer], stream: bool
) -> None:
    both[1].fail_next(1, Fault.status(529))
    with anthropic_client(proxy("anthropic-then-openai")) as client:
        request: dict[str, Any] = {
            "model": "chat-completion",
            "max_tokens": 100,
            "system": "Be brief.",
            "messages": HI,
        }
        if stream:
            with client.messages.stream(**request) as events:
                message = events.get_final_message()
        else:
            message = client.messages.create(**request)
    assert message.model == GPT
    assert (
        message.content[0].type == "text"
        and message.content[0].text == f"Hello from {GPT}! You said: Hi there"
    )


def test_the_proxy_key_is_accepted_as_x_api_key_or_bearer_and_refused_in_anthropic_shape(
    both: Fakes, proxy: Callable[[str], ProxyServer]
) -> None:
    server = proxy("anthropic")
    request: dict[str, Any] = {"model": "chat-completion", "max_tokens": 50, "messages": HI}
    with anthropic_client(server) as client:
        assert client.messages.create(**request).model == CLAUDE
    with anthropic.Anthropic(base_url=server.origin, auth_token=KEY, max_retries=0) as client:
        assert client.messages.create(**request).model == CLAUDE
    with (
        anthropic_client(server, api_key="wrong") as client,
        pytest.raises(anthropic.AuthenticationError) as caught,
    ):
        client.messages.create(**request)
    body: Any = caught.value.body
    assert body["type"] == "error" and body["error"]["type"] == "authentication_error"
    assert "proxy API key" in body["error"]["message"]
    # The x-api-key header is the Messages endpoints' only: elsewhere it is no proxy key.
    chat = httpx2.post(
        f"{server.url}/chat/completions",
        headers={"x-api-key": KEY},
        json={"model": "chat-completion", "messages": HI},
    )
    assert chat.status_code == 401 and "error" in chat.json() and "type" not in chat.json()


def test_every_provider_failing_is_the_anthropic_exception_over_http(
    both: Fakes, proxy: Callable[[str], ProxyServer]
) -> None:
    both[0].fail_next(1, Fault.status(429))
    both[1].fail_next(1, Fault.status(429))
    with (
        anthropic_client(proxy("anthropic-then-openai")) as client,
        pytest.raises(anthropic.RateLimitError) as caught,
    ):
        client.messages.create(model="chat-completion", max_tokens=50, messages=HI)
    assert caught.value.body["type"] == "error"  # type: ignore[index]


@pytest.mark.parametrize("endpoint", ["responses", "messages"])
def test_a_stream_cut_after_content_ends_in_the_endpoints_error_over_http(
    both: Fakes, proxy: Callable[[str], ProxyServer], endpoint: str
) -> None:
    server = proxy("openai")
    cut_after_content("openai", *both)
    if endpoint == "responses":
        with server.client(api_key=KEY, max_retries=0) as client, pytest.raises(openai.APIError) as caught:
            list(client.responses.create(model="chat-completion", input="Hi there", stream=True))
        assert "broke after content" in str(caught.value)
        return
    with (
        anthropic_client(server) as sdk,
        pytest.raises(anthropic.APIStatusError) as broken,
        sdk.messages.stream(model="chat-completion", max_tokens=50, messages=HI) as events,
    ):
        events.get_final_message()
    assert "broke after content" in str(broken.value)


def test_count_tokens_over_http(both: Fakes, proxy: Callable[[str], ProxyServer]) -> None:
    with anthropic_client(proxy("anthropic")) as client:
        counted = client.messages.count_tokens(model="chat-completion", messages=HI)
    assert counted.input_tokens > 0
    assert both[1].calls() == 0


_NODE_SMOKE = """
const OpenAI = require('openai');
const client = new OpenAI({baseURL: process.argv[1], apiKey: process.argv[2], maxRetries: 0});
client.responses.create({model: 'chat-completion', input: 'Hi there'})
  .then((r) => console.log(JSON.stringify({model: r.model, text: r.output_text})))
  .catch((e) => { console.error(String(e)); process.exit(1); });
"""


def test_the_openai_node_sdk_responses_create_through_the_proxy(
    both: Fakes, proxy: Callable[[str], ProxyServer], openai_node: Path
) -> None:
    server = proxy("openai")
    env = {**os.environ, "NODE_PATH": str(openai_node)}
    done = subprocess.run(
        ["node", "-e", _NODE_SMOKE, server.url, KEY],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=env,
    )
    assert json.loads(done.stdout) == {"model": GPT, "text": f"Hello from {GPT}! You said: Hi there"}


def test_the_dialect_routes_have_their_own_metrics_labels() -> None:
    from modelmesh.serve.edge import route_of

    assert route_of("/v1/responses") == "/v1/responses"
    assert route_of("/v1/messages") == "/v1/messages"
    assert route_of("/v1/messages/count_tokens") == "/v1/messages/count_tokens"
