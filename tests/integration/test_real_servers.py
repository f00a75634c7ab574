"""The mesh in front of real inference servers running real small models on the CPU.

A dead provider (nothing listens on its port) comes first; every request must fail over to the real
server, which is found the way a user's would be: its ``*_HOST`` variable, then model discovery.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest

from modelmesh import create, create_async
from tests.integration.conftest import RealServer, free_port

pytestmark = pytest.mark.slow

HELLO = [{"role": "user", "content": "Say hello in one short sentence."}]
FAST_RETRY = {"max_attempts": 1}


@pytest.fixture
def dead_openai(monkeypatch: pytest.MonkeyPatch) -> str:
    """OpenAI detected, pointing at a port where nothing listens: every attempt is refused."""
    url = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-dead-provider")
    monkeypatch.setenv("OPENAI_BASE_URL", url)
    return url


def pools(*capabilities: str) -> dict[str, Any]:
    return {"pools": {c: {"capability": c, "retry": FAST_RETRY} for c in capabilities}}


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_chat_fails_over_from_a_dead_provider_to_smollm2(  # type: ignore[no-untyped-def]
    llama_server: RealServer, dead_openai, monkeypatch, stream
) -> None:
    monkeypatch.setenv("VLLM_HOST", llama_server.url)
    client = create(config=pools("chat-completion"))
    if stream:
        with client.chat.completions.with_streaming_response.create(
            model="chat-completion", messages=HELLO, max_tokens=12, temperature=0, stream=True
        ) as raw:
            headers = raw.headers
            chunks = list(raw.parse())
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        model = chunks[-1].model
    else:
        raw = client.chat.completions.with_raw_response.create(
            model="chat-completion", messages=HELLO, max_tokens=12, temperature=0
        )
        headers, response = raw.headers, raw.parse()
        text, model = response.choices[0].message.content or "", response.model
        assert response.usage.completion_tokens > 0
    assert model == llama_server.model and text.strip()
    assert headers["x-modelmesh-provider"] == "vllm"
    assert int(headers["x-modelmesh-failovers"]) >= 1  # the dead OpenAI was tried first
    assert int(headers["x-modelmesh-attempts"]) >= 2
    client.close()


def test_async_chat_fails_over_to_smollm2(llama_server: RealServer, dead_openai, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LMSTUDIO_HOST", llama_server.url + "/v1")  # LM Studio style: the API root

    async def ask() -> list[str]:
        async with create_async(config=pools("chat-completion")) as client:
            answers = await asyncio.gather(
                *(
                    client.chat.completions.create(model="chat-completion", messages=HELLO, max_tokens=8)
                    for _ in range(3)
                )
            )
            return [a.model for a in answers]

    assert asyncio.run(ask()) == [llama_server.model] * 3


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_real_embeddings_fail_over_to_multilingual_e5(  # type: ignore[no-untyped-def]
    e5_server: RealServer, dead_openai, monkeypatch, mode
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", e5_server.host)  # Ollama style: host:port, no scheme
    texts = [
        "how much protein should I eat per day",
        "daily protein intake recommendations",
        "the weather in Paris is sunny",
    ]

    async def embed_async() -> Any:
        async with create_async(config=pools("text-embeddings")) as client:
            return await client.embeddings.create(model="text-embeddings", input=texts)

    if mode == "sync":
        response = create(config=pools("text-embeddings")).embeddings.create(
            model="text-embeddings", input=texts
        )
    else:
        response = asyncio.run(embed_async())
    assert response.model == e5_server.model
    vectors = [d.embedding for d in response.data]  # the SDK asked for base64 and decoded it
    assert [len(v) for v in vectors] == [384] * 3
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-3 for v in vectors)  # L2-normalised
    # A real model: the paraphrase is closer than the unrelated sentence.
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2])


def test_one_mesh_over_both_servers_routes_each_endpoint_to_the_right_model(  # type: ignore[no-untyped-def]
    llama_server: RealServer, e5_server: RealServer, monkeypatch, request
) -> None:
    monkeypatch.setenv("VLLM_HOST", llama_server.host)
    monkeypatch.setenv("OLLAMA_HOST", e5_server.host)
    client = create("chat-completion", "text-embeddings")
    request.addfinalizer(client.close)
    owners = {m.id: m.owned_by for m in client.models.list()}
    assert owners == {llama_server.model: "vllm", e5_server.model: "ollama"}
    chat = client.chat.completions.create(model="chat-completion", messages=HELLO, max_tokens=8)
    embedding = client.embeddings.create(model="text-embeddings", input="hello", encoding_format="float")
    assert (chat.model, embedding.model) == (llama_server.model, e5_server.model)
    assert len(embedding.data[0].embedding) == 384
