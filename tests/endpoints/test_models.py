"""``models.list()`` / ``models.retrieve()``: the real models of every pool, answered by the mesh itself."""

from __future__ import annotations

import openai
import pytest

from tests.endpoints.conftest import resolve


async def listed(client) -> list[openai.types.Model]:  # type: ignore[no-untyped-def]
    page = await resolve(client.models.list())
    return list(page.data)


async def test_lists_the_real_models_of_all_pools_owned_by_their_provider(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai", "mistral")
    client = client_for("chat-completion", "text-embeddings", "text-to-speech")
    models = await listed(client)
    owners = {m.id: m.owned_by for m in models}
    assert owners["gpt-4o"] == "openai" and owners["mistral-large-latest"] == "mistral"
    assert owners["text-embedding-3-small"] == "openai" and owners["mistral-embed"] == "mistral"
    assert owners["tts-1"] == "openai"
    assert "whisper-1" not in owners  # no speech-to-text pool
    assert len(owners) == len(models)  # each model once, even when in several pools
    assert all(m.object == "model" for m in models)
    assert sum(f.calls() for f in fakes.values()) == 0 and not any(f.requests for f in fakes.values())


async def test_retrieve_a_model_by_id_or_dotted_key(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    providers("openai")
    client = client_for("chat-completion")
    model = await resolve(client.models.retrieve("gpt-4o-mini"))
    assert (model.id, model.owned_by) == ("gpt-4o-mini", "openai")
    assert (await resolve(client.models.retrieve("openai.gpt-4o"))).id == "gpt-4o"
    with pytest.raises(openai.NotFoundError):
        await resolve(client.models.retrieve("text-embedding-3-small"))  # not in any pool of this client
