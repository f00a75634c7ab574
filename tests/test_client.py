"""create() and MeshClient as the seed describes them: every layer, the extras, and the clear errors."""

from __future__ import annotations

import json

import openai
import pytest
import yaml

import modelmesh
from modelmesh import ConfigError, MeshClient, MeshConfig, create
from modelmesh.cdk import QuickProvider
from modelmesh.testing import FakeProvider, Fault

HELLO = [{"role": "user", "content": "Hello!"}]


def test_layer0_routes_a_capability_and_reports_the_real_model(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion")
    response = client.chat.completions.create(model="chat-completion", messages=HELLO)
    assert isinstance(client, openai.OpenAI)
    assert isinstance(response, openai.types.chat.ChatCompletion)
    assert response.model == "gpt-4o"  # the real model, never the virtual name
    assert response.object == "chat.completion" and response.choices[0].message.role == "assistant"
    assert "Hello!" in response.choices[0].message.content
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens
    sent = fakes[0].requests[-1]
    assert sent.model == "gpt-4o" and sent.headers["authorization"] == "Bearer sk-test-openai-123456"


def test_seed_example_with_module_attribute_create(fakes) -> None:  # type: ignore[no-untyped-def]
    client = modelmesh.create("chat-completion")
    response = client.chat.completions.create(
        model="chat-completion",
        messages=[
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "Explain capability-driven routing."},
        ],
        temperature=0.7,
        max_tokens=500,
    )
    assert response.choices[0].message.content


def test_streaming_yields_chat_completion_chunks_from_the_real_model(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion")
    stream = client.chat.completions.create(model="chat-completion", messages=HELLO, stream=True)
    chunks = list(stream)
    assert all(isinstance(c, openai.types.chat.ChatCompletionChunk) for c in chunks)
    assert {c.model for c in chunks} == {"gpt-4o"} and len({c.id for c in chunks}) == 1
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason == "stop"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "Hello!" in text


def test_layer1_several_capabilities_with_filters_and_strategy(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion", "text-embeddings", providers=["openai"], strategy="cost-first")
    chat = client.chat.completions.create(
        model="chat-completion", messages=[{"role": "user", "content": "Sum"}]
    )
    assert chat.model == "gpt-4o-mini"  # cost-first: the cheapest openai chat model
    emb = client.embeddings.create(model="text-embeddings", input="Document text here...")
    assert emb.model == "text-embedding-3-small" and len(emb.data[0].embedding) > 0
    assert client.active_providers() == ["openai"]  # groq is detected but filtered out
    assert sorted(p.name for p in client.mesh.list_pools()) == ["chat-completion", "text-embeddings"]


def test_layer1b_predefined_pool(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create(pool="text-generation")
    response = client.chat.completions.create(
        model="text-generation", messages=[{"role": "user", "content": "Write a haiku about APIs."}]
    )
    assert response.model == "gpt-4o"


def test_layer2_config_dict_with_secrets_and_two_dialects(  # type: ignore[no-untyped-def]
    fakes, anthropic_fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    anthropic_fake.reset()
    monkeypatch.setenv("OPENAI_KEY", fakes[0].api_key)
    monkeypatch.setenv("ANTHROPIC_KEY", anthropic_fake.api_key)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", anthropic_fake.base_url)
    client = create(
        config={
            "providers": {
                "openai": {"connector": "openai.llm.v1", "config": {"api_key": "${secrets:openai-key}"}},
                "anthropic": {
                    "connector": "anthropic.claude.v1",
                    "config": {"api_key": "${secrets:anthropic-key}"},
                },
            },
            "pools": {"chat-completion": {"capability": "chat-completion", "strategy": "cost-first"}},
        }
    )
    fakes[0].set_outage(Fault.status(503))
    response = client.chat.completions.create(model="chat-completion", messages=HELLO)
    assert response.model.startswith("claude-")  # failed over to the native Anthropic dialect
    assert anthropic_fake.requests[-1].headers["x-api-key"] == anthropic_fake.api_key
    assert "groq" not in client.active_providers()  # config given: auto-detection skipped


def test_layer2_yaml_file_and_meshconfig_object_are_equivalent(fakes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = {
        "providers": {"groq": {"api_key": fakes[1].api_key, "base_url": fakes[1].base_url}},
        "pools": {"chat-completion": {"capability": "chat-completion"}},
    }
    path = tmp_path / "modelmesh.yaml"
    path.write_text(yaml.safe_dump(data))
    for source in (str(path), path, data, MeshConfig.from_file(path), MeshConfig.from_dict(data)):
        client = create(config=source)
        assert (
            client.chat.completions.create(model="chat-completion", messages=HELLO).model
            == "llama-3.3-70b-versatile"
        )


def test_config_with_only_observability_still_detects_providers(fakes, tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "events.jsonl"
    client = create(
        "chat-completion", config={"observability": {"connector": "modelmesh.file.v1", "path": str(log)}}
    )
    fakes[0].fail_next(1, Fault.status(401, message="Incorrect API key provided: sk-test-openai-123456"))
    client.chat.completions.create(model="chat-completion", messages=HELLO)
    client.mesh.close()
    events = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = {e["event"] for e in events}
    assert {"decision", "attempt", "deactivation", "failover", "request"} <= kinds
    final = [e for e in events if e["event"] == "request"][-1]
    assert final["provider"] == "groq" and final["failovers"] == 1 and final["prompt_tokens"] > 0
    assert "sk-test-openai-123456" not in log.read_text()
    assert "gsk-test-groq-123456" not in log.read_text()


def test_api_keys_select_only_the_listed_providers(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion", api_keys={"groq": fakes[1].api_key})
    assert client.active_providers() == ["groq"]
    assert client.chat.completions.create(model="chat-completion", messages=HELLO).model.startswith("llama")


def test_models_filter_accepts_plain_and_dotted_ids(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion", models=["gpt-4o-mini", "groq.llama-3.1-8b-instant"])
    pool = client.mesh.list_pools()[0]
    assert [m.key for m in pool.models] == ["openai.gpt-4o-mini", "groq.llama-3.1-8b-instant"]


def test_extras_pool_status_active_providers_and_rotate(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion", models=["gpt-4o", "llama-3.3-70b-versatile"])
    status = client.pool_status()["chat-completion"]
    assert (status.active, status.standby, status.total, status.current_model) == (2, 0, 2, "gpt-4o")
    assert client.active_providers() == ["openai", "groq"]
    assert client.rotate("chat-completion") == "llama-3.3-70b-versatile"
    status = client.pool_status()["chat-completion"]
    assert (status.active, status.standby, status.current_model) == (1, 1, "llama-3.3-70b-versatile")
    answer = client.chat.completions.create(model="chat-completion", messages=HELLO)
    assert answer.model == "llama-3.3-70b-versatile"


def test_models_list_shows_real_models_owned_by_their_provider(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion", "text-embeddings")
    listed = {(m.id, m.owned_by) for m in client.models.list()}
    assert ("gpt-4o", "openai") in listed and ("llama-3.3-70b-versatile", "groq") in listed
    assert ("text-embedding-3-small", "openai") in listed


def test_requesting_a_real_model_id_routes_to_it(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion")
    assert (
        client.chat.completions.create(model="llama-3.1-8b-instant", messages=HELLO).model
        == "llama-3.1-8b-instant"
    )


@pytest.mark.parametrize("base", ["", "/v1"])
def test_quick_provider_discovers_models_with_or_without_v1(base: str) -> None:
    with FakeProvider(name="gw", models=["gw-small", "gw-large"], api_key="sk-internal-key") as fake:
        custom = QuickProvider(base_url=fake.host_url + base, api_key="sk-internal-key")
        assert custom.models == ["gw-small", "gw-large"]
        assert fake.requests[0].path == "/v1/models"
        client = create(
            config={
                "providers": {"internal-gateway": {"instance": custom}},
                "pools": {
                    "chat-completion": {"capability": "chat-completion", "providers": ["internal-gateway"]}
                },
            }
        )
        response = client.chat.completions.create(model="chat-completion", messages=HELLO)
        assert response.model == "gw-small"
        assert "sk-internal-key" not in repr(custom) + repr(client) + repr(client.mesh.providers)


def test_copy_and_with_options_keep_routing(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion")
    copied = client.with_options(timeout=5)
    assert isinstance(copied, MeshClient) and copied.mesh is client.mesh
    assert copied.chat.completions.create(model="chat-completion", messages=HELLO).model == "gpt-4o"


# -- clear errors -----------------------------------------------------------------------------------


def test_nothing_specified_raises_the_seed_error(fakes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match=r"^Specify capabilities, pool, or config$"):
        create()


def test_pool_and_capabilities_together_is_an_error(fakes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="either capabilities or pool"):
        create("chat-completion", pool="text-generation")


def test_no_keys_raises_the_seed_runtime_error() -> None:
    with pytest.raises(
        RuntimeError,
        match=r"^No API keys found\. Set at least one provider API key as an "
        r"environment variable\.$",
    ):
        create("chat-completion")


def test_unknown_capability_lists_close_matches(fakes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="chat-completion") as info:
        create("chat-complet")
    assert "Did you mean" in str(info.value)


def test_unknown_pool_lists_predefined_pools(fakes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="text-generation"):
        create(pool="text-gen")


def test_unknown_strategy_lists_valid_ones(fakes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="round-robin"):
        create("chat-completion", strategy="round-robbin")


def test_unknown_provider_filter_lists_valid_ones(fakes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="openai") as info:
        create("chat-completion", providers=["opnai"])
    assert "Did you mean 'openai'" in str(info.value)


def test_invalid_config_names_the_field_path(fakes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=r"pools\.chat\.retry\.max_attempts"):
        create(config={"pools": {"chat": {"capability": "chat-completion", "retry": {"max_attempts": 0}}}})


def test_unknown_pool_name_in_a_request_lists_valid_pools(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion")
    with pytest.raises(openai.NotFoundError, match="Valid pools: chat-completion"):
        client.chat.completions.create(model="chat-complet", messages=HELLO)


def test_endpoint_not_served_by_the_pool_is_a_clear_bad_request(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion")
    with pytest.raises(openai.BadRequestError, match="no model for the embeddings endpoint"):
        client.embeddings.create(model="chat-completion", input="x")


def test_client_repr_and_config_repr_hold_no_secrets(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion")
    text = repr(client) + repr(client.mesh) + str(client.mesh.providers) + repr(client.pool_status())
    assert "sk-test-openai-123456" not in text and "gsk-test-groq-123456" not in text


def test_config_without_providers_may_name_detected_providers_in_pools(fakes) -> None:  # type: ignore[no-untyped-def]
    client = create(
        config={"pools": {"chat-completion": {"providers": ["groq"], "provider_priority": ["groq"]}}}
    )
    assert client.chat.completions.create(model="chat-completion", messages=HELLO).model.startswith("llama")
    with pytest.raises(ConfigError, match=r"pools\.chat-completion\.providers: unknown provider 'mistral'"):
        create(config={"pools": {"chat-completion": {"providers": ["mistral"]}}})
