"""``embeddings.create`` through the mesh: detection, both encodings, failover, pool views."""

from __future__ import annotations

import base64
import struct

import openai
import pytest

from modelmesh.testing import Fault
from modelmesh.testing.openai_wire import embedding_vector
from tests.endpoints.conftest import resolve

TEXTS = ["ModelMesh routes capabilities.", "Failover is automatic."]


async def test_text_embeddings_with_only_an_openai_key(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai")
    client = client_for("text-embeddings", fast=False)
    response = await resolve(client.embeddings.create(model="text-embeddings", input=TEXTS))
    assert isinstance(response, openai.types.CreateEmbeddingResponse)
    assert response.model == "text-embedding-3-small"  # the real model, not the pool name
    assert [d.index for d in response.data] == [0, 1]
    assert response.data[0].embedding == pytest.approx(embedding_vector(TEXTS[0], 8))
    sent = fakes["openai"].requests[-1]
    assert sent.path == "/v1/embeddings" and sent.model == "text-embedding-3-small"
    assert sent.headers["authorization"] == "Bearer sk-test-openai-endpoints"


@pytest.mark.parametrize("encoding", [None, "base64", "float"])
async def test_every_encoding_decodes_to_the_same_vector(providers, client_for, encoding) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai")
    client = client_for("text-embeddings")
    extra = {} if encoding is None else {"encoding_format": encoding}
    response = await resolve(client.embeddings.create(model="text-embeddings", input=TEXTS[0], **extra))
    vector = response.data[0].embedding
    if encoding == "base64":  # asked for explicitly, the SDK hands the caller the encoded string
        vector = list(struct.unpack("<8f", base64.b64decode(vector)))
    assert vector == pytest.approx(embedding_vector(TEXTS[0], 8))
    # The SDK asks for base64 when the caller names no encoding; the mesh passes that through.
    assert fakes["openai"].requests[-1].json["encoding_format"] == (encoding or "base64")


async def test_predefined_embeddings_pool(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    providers("openai")
    client = client_for(pool="embeddings")
    response = await resolve(client.embeddings.create(model="embeddings", input="pool"))
    assert response.model == "text-embedding-3-small"


async def test_dimensions_and_usage_pass_through(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    providers("openai")
    client = client_for("text-embeddings")
    response = await resolve(
        client.embeddings.create(model="text-embeddings", input="four words right here", dimensions=3)
    )
    assert len(response.data[0].embedding) == 3
    assert response.usage.prompt_tokens == 4


@pytest.mark.parametrize(
    ("backup", "model"), [("together", "BAAI/bge-large-en-v1.5"), ("mistral", "mistral-embed")]
)
async def test_fails_over_to_another_provider(providers, client_for, backup, model) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai", backup)
    fakes["openai"].set_outage(Fault.status(503))
    client = client_for("text-embeddings")
    raw = await resolve(client.embeddings.with_raw_response.create(model="text-embeddings", input=TEXTS))
    response = raw.parse()
    assert response.model == model and len(response.data) == 2
    assert raw.headers["x-modelmesh-provider"] == backup
    assert int(raw.headers["x-modelmesh-failovers"]) >= 1
    assert fakes[backup].requests[-1].json["input"] == TEXTS


async def test_rate_limited_embeddings_move_on_without_waiting(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai", "mistral")
    fakes["openai"].fail_next(1, Fault.status(429, retry_after=20))
    client = client_for("text-embeddings")
    response = await resolve(client.embeddings.create(model="text-embeddings", input="x"))
    assert response.model != "text-embedding-3-small"  # not worth 20 s while another model is ready


async def test_all_providers_down_raises_the_sdk_error(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai")
    fakes["openai"].set_outage(Fault.status(500))
    client = client_for("text-embeddings")
    with pytest.raises(openai.InternalServerError):
        await resolve(client.embeddings.create(model="text-embeddings", input="x"))


async def test_a_chat_only_pool_refuses_embeddings_clearly(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    providers("openai")
    client = client_for("chat-completion")
    with pytest.raises(openai.BadRequestError) as caught:
        await resolve(client.embeddings.create(model="chat-completion", input="x"))
    assert "has no model for the embeddings endpoint" in str(caught.value)
    assert caught.value.code == "endpoint_not_served"


async def test_a_pool_of_several_capabilities_sends_embeddings_only_to_embedding_models(  # type: ignore[no-untyped-def]
    providers, client_for
) -> None:
    fakes = providers("openai")
    client = client_for(config={"pools": {"mixed": {"capability": "generation"}}})
    with pytest.raises(openai.BadRequestError):
        await resolve(client.embeddings.create(model="mixed", input="x"))
    assert fakes["openai"].calls() == 0
