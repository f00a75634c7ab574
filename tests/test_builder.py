"""build_mesh(): a pool no provider can serve fails at create(); a models filter is the pool's priority."""

from __future__ import annotations

import pytest

from modelmesh import ConfigError, create

HELLO = [{"role": "user", "content": "Hello!"}]


def test_capability_no_detected_provider_serves_fails_at_create(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-123456")
    with pytest.raises(ConfigError, match=r"pools\.text-embeddings") as info:
        create("text-embeddings")
    message = str(info.value)
    assert "anthropic" in message  # what was detected, and that it does not serve embeddings
    assert "OPENAI_API_KEY" in message and "MISTRAL_API_KEY" in message  # keys that would enable one
    assert "GROQ_API_KEY" not in message  # groq serves chat only
    assert "sk-ant-test-123456" not in message


def test_providers_filter_of_a_pool_that_serves_nothing_names_the_pool(fakes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"pools\.text-embeddings") as info:
        create(
            config={"pools": {"text-embeddings": {"capability": "text-embeddings", "providers": ["groq"]}}}
        )
    assert "groq" in str(info.value) and "openai" in str(info.value)


def test_models_filter_order_is_the_priority(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion", models=["llama-3.1-8b-instant", "gpt-4o-mini"])
    pool = client.mesh.list_pools()[0]
    assert [m.key for m in pool.models] == ["groq.llama-3.1-8b-instant", "openai.gpt-4o-mini"]
    assert client.pool_status()["chat-completion"].current_model == "llama-3.1-8b-instant"
    assert client.chat.completions.create(model="chat-completion", messages=HELLO).model == (
        "llama-3.1-8b-instant"
    )


def test_models_filter_order_with_dotted_ids(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion", models=["openai.gpt-4o-mini", "llama-3.3-70b-versatile", "gpt-4o"])
    keys = [m.key for m in client.mesh.list_pools()[0].models]
    assert keys == ["openai.gpt-4o-mini", "groq.llama-3.3-70b-versatile", "openai.gpt-4o"]


def test_a_provider_left_out_by_the_filter_is_named_as_such(fakes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        create("text-to-image", providers=["groq"])
    message = str(info.value)
    assert "openai (OPENAI_API_KEY is set, but openai is left out)" in message
    assert "together (set TOGETHER_API_KEY)" in message
