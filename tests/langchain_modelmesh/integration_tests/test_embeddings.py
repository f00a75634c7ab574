"""ModelMeshEmbeddings against the fake: vectors in input order, batching, async, routing by pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from langchain_modelmesh import ModelMeshEmbeddings
from modelmesh import create
from tests.langchain_modelmesh.conftest import LangChainFakes


@pytest.fixture
async def embeddings(config: dict[str, Any]) -> AsyncIterator[ModelMeshEmbeddings]:
    model = ModelMeshEmbeddings(config=config, model="text-embeddings", chunk_size=2)
    yield model
    await model.aclose()


async def test_documents_come_back_in_order_and_batched(
    embeddings: ModelMeshEmbeddings, lc_fakes: LangChainFakes
) -> None:
    texts = ["alpha", "beta", "gamma"]
    vectors = embeddings.embed_documents(texts)
    assert len(vectors) == 3
    assert vectors == [embeddings.embed_query(t) for t in texts]  # deterministic per text
    assert lc_fakes.primary.calls("text-embedding-3-small") == 2 + 3  # chunk_size=2, then 3 queries


async def test_async_matches_sync(embeddings: ModelMeshEmbeddings) -> None:
    assert await embeddings.aembed_documents(["x", "y"]) == embeddings.embed_documents(["x", "y"])
    assert await embeddings.aembed_query("x") == embeddings.embed_query("x")


async def test_no_texts_no_request(embeddings: ModelMeshEmbeddings, lc_fakes: LangChainFakes) -> None:
    assert embeddings.embed_documents([]) == []
    assert lc_fakes.primary.calls() == 0


async def test_shares_a_mesh_client(config: dict[str, Any]) -> None:
    client = create(config=config)
    model = ModelMeshEmbeddings(mesh_client=client, model="text-embeddings")
    assert model.mesh is client.mesh
    assert len(model.embed_query("hello")) > 0
    await model.aclose()


def test_the_capability_names_the_pool(config: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    embeddings = ModelMeshEmbeddings(config=config, model="text-embeddings")
    assert embeddings.model == "text-embeddings"
