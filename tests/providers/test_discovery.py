"""Model discovery (``discover: true``): the models a server lists join the pools, each in the pools
its id says it serves; a server that cannot be listed is a clear configuration error."""

from __future__ import annotations

import pytest

from modelmesh import ConfigError, create
from modelmesh.capabilities import CAPABILITY_GROUPS, expand_capabilities
from modelmesh.providers.discovery import model_spec_for
from modelmesh.testing import FakeProvider, Fault
from modelmesh.types import FEATURES

HELLO = [{"role": "user", "content": "Hello!"}]
GROQ_LISTED = ["llama-3.3-70b-versatile", "qwen/qwen3-32b", "whisper-large-v3-turbo"]


def test_a_keyed_preset_opts_in_to_discovery_in_its_provider_config() -> None:
    with FakeProvider(name="groq", models=GROQ_LISTED, api_key="gsk-discover-123456") as fake:
        config = {
            "providers": {"groq": {"api_key": fake.api_key, "base_url": fake.base_url, "discover": True}},
            "pools": {"chat": {"capability": "chat-completion"}},
        }
        with create(config=config) as client:
            models = [m.id for m in client.mesh.pool("chat").models]
            # The catalogue's models first (in their order), then the listed ones it did not know.
            assert models == [
                "llama-3.3-70b-versatile",
                "llama-3.1-8b-instant",
                "openai/gpt-oss-120b",
                "qwen/qwen3-32b",
            ]
            response = client.chat.completions.create(model="qwen/qwen3-32b", messages=HELLO)
        listing = fake.requests[0]
        assert (listing.method, listing.path) == ("GET", "/v1/models")
        assert listing.headers["authorization"] == f"Bearer {fake.api_key}"
        assert response.model == "qwen/qwen3-32b"


def test_without_discover_only_the_catalogue_is_used() -> None:
    with FakeProvider(name="groq", models=GROQ_LISTED, api_key="gsk-discover-123456") as fake:
        config = {
            "providers": {"groq": {"api_key": fake.api_key, "base_url": fake.base_url}},
            "pools": {"chat": {"capability": "chat-completion"}},
        }
        with create(config=config) as client:
            assert "qwen/qwen3-32b" not in [m.id for m in client.mesh.pool("chat").models]
        assert fake.requests == []


def test_local_server_models_land_in_the_pools_their_ids_say(monkeypatch: pytest.MonkeyPatch) -> None:
    listed = ["llama3.2:1b", "nomic-embed-text:latest", "qwen2.5-coder:7b", "mxbai-embed-large"]
    with FakeProvider(name="ollama", models=listed, api_key="") as fake:
        monkeypatch.setenv("OLLAMA_HOST", fake.host_url)
        with create("chat-completion", "text-embeddings") as client:
            chat = [m.id for m in client.mesh.pool("chat-completion").models]
            embeddings = [m.id for m in client.mesh.pool("text-embeddings").models]
            assert chat == ["llama3.2:1b", "qwen2.5-coder:7b"]
            assert embeddings == ["nomic-embed-text:latest", "mxbai-embed-large"]
            vector = client.embeddings.create(model="text-embeddings", input="x")
        assert vector.model == "nomic-embed-text:latest"
        assert fake.requests[-1].path == "/v1/embeddings"


def test_an_unreachable_server_is_a_config_error_naming_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeProvider(name="vllm", api_key="").start()
    port = fake.port
    fake.stop()  # nothing listens there any more
    monkeypatch.setenv("VLLM_HOST", f"127.0.0.1:{port}")
    with pytest.raises(ConfigError) as caught:
        create("chat-completion")
    message = str(caught.value)
    assert f"model discovery failed: GET http://127.0.0.1:{port}/v1/models" in message
    assert "providers.vllm" in message


def test_a_refused_listing_is_a_config_error_with_the_status(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeProvider(name="lmstudio", api_key="") as fake:
        fake.set_outage(Fault.status(503))
        monkeypatch.setenv("LMSTUDIO_HOST", fake.host_url)
        with pytest.raises(ConfigError, match="answered HTTP 503"):
            create("chat-completion")


@pytest.mark.parametrize(
    ("model_id", "group"),
    [
        ("nomic-embed-text", "embeddings"),
        ("text-embedding-3-small", "embeddings"),
        ("multilingual-e5-small-q4", "embeddings"),
        ("BAAI/bge-m3", "embeddings"),
        ("all-MiniLM-L6-v2", "embeddings"),
        ("whisper-large-v3", "speech-to-text"),
        ("gpt-4o-mini-transcribe", "speech-to-text"),
        ("kokoro-82m", "text-to-speech"),
        ("gpt-4o-mini-tts", "text-to-speech"),
        ("black-forest-labs/FLUX.1-dev", "images"),
        ("stable-diffusion-xl", "images"),
    ],
)
def test_non_chat_models_are_recognised_by_id(model_id: str, group: str) -> None:
    spec = model_spec_for(model_id, "local", CAPABILITY_GROUPS["chat"])
    assert spec.capabilities == expand_capabilities(group)
    assert spec.features == frozenset()


@pytest.mark.parametrize(
    "model_id", ["llama3.2:1b", "smollm2-135m-instruct", "qwen/qwen3-32b", "gemma-3-e5b"]
)
def test_other_models_are_chat_models_with_every_feature(model_id: str) -> None:
    spec = model_spec_for(model_id, "local", CAPABILITY_GROUPS["chat"] | CAPABILITY_GROUPS["embeddings"])
    assert spec.capabilities == CAPABILITY_GROUPS["chat"]
    assert spec.features == FEATURES  # a wrong guess fails over; a missing feature would refuse work
