"""When a request cannot be answered, the caller reads what happened: every attempt in one line each,
where a refused connection was going, and each reason for a model being out said once."""

from __future__ import annotations

import socket
from typing import Any

import openai
import pytest

from modelmesh import create
from modelmesh.testing import FakeProvider, Fault
from tests.conftest import groq_and_openai

HELLO = [{"role": "user", "content": "Hello!"}]
LLAMA = "llama-3.1-8b-instant"


def two_providers(openai_fake: FakeProvider, groq_fake: FakeProvider, **pool: Any) -> dict[str, Any]:
    providers = groq_and_openai(openai_fake, groq_fake)
    settings = {"capability": "chat-completion", "retry": {"max_attempts": 1}, **pool}
    return {"providers": providers, "pools": {"chat-completion": settings}}


def test_every_failed_attempt_is_one_line_of_the_message(
    openai_fake: FakeProvider, groq_fake: FakeProvider
) -> None:
    openai_fake.reset()
    groq_fake.reset()
    groq_fake.fail_next(1, Fault.status(503, message="groq is overloaded"))
    openai_fake.fail_next(1, Fault.status(429, message="openai quota reached"))
    client = create(config=two_providers(openai_fake, groq_fake))
    with pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    client.close()
    message = caught.value.body["message"]  # type: ignore[index]
    assert "groq/llama-3.1-8b-instant: HTTP 503 (server): groq is overloaded" in message
    assert "openai/gpt-4o: HTTP 429 (rate_limited): openai quota reached" in message
    assert caught.value.body["last_message"] == "openai quota reached"  # type: ignore[index]


def test_a_refused_connection_names_host_and_port() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens here once the socket closes
    provider = {"api_key": "gsk-refused-1234", "base_url": f"http://127.0.0.1:{port}/v1", "models": ["m"]}
    pool = {"capability": "chat-completion", "retry": {"max_attempts": 1}}
    models = {"groq.m": {"provider": "groq", "capabilities": ["chat-completion"]}}
    client = create(
        config={"providers": {"groq": provider}, "models": models, "pools": {"chat-completion": pool}}
    )
    with pytest.raises(openai.APIConnectionError) as caught:
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    client.close()
    assert f"127.0.0.1:{port}" in str(caught.value.__cause__)


def test_models_out_for_the_same_reason_are_named_together(
    openai_fake: FakeProvider, groq_fake: FakeProvider
) -> None:
    openai_fake.reset()
    groq_fake.reset()
    client = create(config=two_providers(openai_fake, groq_fake))
    client.rotate("chat-completion")
    for key in ("groq.llama-3.1-8b-instant", "openai.gpt-4o"):

        def out(state: Any) -> None:
            state.standby_until, state.standby_reason = float("inf"), "manual rotation"

        client.mesh.store.update_model(key, out)
    with pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    client.close()
    message = str(caught.value)
    assert message.count("manual rotation") == 1
    assert "groq.llama-3.1-8b-instant, openai.gpt-4o: standby, manual rotation" in message
