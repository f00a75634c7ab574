"""Pools are models (issue 11, #1): listed and retrievable through the proxy; ``pools_only`` enforces them."""

from __future__ import annotations

import openai
import pytest

import modelmesh
from modelmesh.testing import FakeProvider, Fault
from tests.serve.conftest import HELLO, Proxy, chat, mesh_config

POOLS = ["chat-completion", "embeddings", "text-to-speech"]


def test_the_model_list_starts_with_every_pool(client: openai.OpenAI) -> None:
    models = list(client.models.list())
    assert [m.id for m in models[:3]] == POOLS
    chat_pool = models[0].model_dump(exclude_none=True)
    assert chat_pool == {
        "id": "chat-completion",
        "object": "model",
        "created": 0,
        "owned_by": "modelmesh",
        "capability": "generation.text-generation.chat-completion",
        "active": 2,
        "total": 2,
    }
    real = {m.id: m.owned_by for m in models[3:]}
    assert real["gpt-4o"] == "openai" and real["llama-3.3-70b-versatile"] == "groq"


def test_a_pool_is_retrieved_like_a_model(client: openai.OpenAI) -> None:
    pool = client.models.retrieve("embeddings")
    assert (pool.id, pool.owned_by) == ("embeddings", "modelmesh")
    assert pool.model_dump()["capability"] == "representation.embeddings"
    assert client.models.retrieve("gpt-4o").owned_by == "openai"  # real models still answer
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_the_listing_shows_a_pool_losing_its_models(
    proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    fakes[0].set_outage(Fault.status(503))
    with proxy().client() as client:
        chat(client, stream=False)  # openai fails over to groq and goes on standby
        pool = client.models.retrieve("chat-completion").model_dump()
    assert (pool["active"], pool["total"]) == (1, 2)


def test_the_in_process_client_keeps_listing_real_models(fakes: tuple[FakeProvider, FakeProvider]) -> None:
    with modelmesh.create(config=mesh_config(*fakes)) as client:
        ids = [m.id for m in client.models.list()]
    assert "gpt-4o" in ids and not set(POOLS) & set(ids)


def test_pools_only_lists_and_routes_pools_alone(proxy: Proxy) -> None:
    with proxy(pools_only=True).client() as client:
        assert [m.id for m in client.models.list()] == POOLS
        assert chat(client, stream=False)[0] == "gpt-4o"  # a pool is routed as usual
        with pytest.raises(openai.NotFoundError) as caught:
            client.chat.completions.create(model="gpt-4o", messages=HELLO)
        assert "routes by pool name only. Valid pools: chat-completion, embeddings, text-to-speech" in (
            caught.value.message
        )
        with pytest.raises(openai.NotFoundError):
            client.models.retrieve("gpt-4o")
        with pytest.raises(openai.NotFoundError):
            client.embeddings.create(model="text-embedding-3-small", input="x")
        assert client.embeddings.create(model="embeddings", input="x").model == "text-embedding-3-small"


def test_pools_only_also_covers_uploads(proxy: Proxy) -> None:
    with proxy(pools_only=True).client() as client, pytest.raises(openai.NotFoundError) as caught:
        client.audio.transcriptions.create(model="whisper-1", file=("a.wav", b"RIFF0000WAVE"))
    assert "Valid pools" in caught.value.message


def test_without_pools_only_a_real_model_id_is_routed(client: openai.OpenAI) -> None:
    assert chat(client, stream=False, model="llama-3.3-70b-versatile")[0] == "llama-3.3-70b-versatile"
