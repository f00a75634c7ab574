"""Every provider preset, detected from its environment variables and pointed at a fake through its
base-URL override: the request reaches the right path with the right credentials."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelmesh import create
from modelmesh.capabilities import CAPABILITY_GROUPS, expand_capabilities
from modelmesh.providers import catalog
from modelmesh.providers.catalog import ProviderPreset
from modelmesh.testing import FakeProvider

HELLO = [{"role": "user", "content": "Hello!"}]
KEY = "sk-test-presets-123456"
LOCAL_MODELS = ["llama3.2:1b", "nomic-embed-text"]
PRESETS = sorted(catalog.presets())
KEYED = [n for n in PRESETS if catalog.preset(n).key_env]
LOCAL = [n for n in PRESETS if not catalog.preset(n).key_env]


@pytest.fixture(scope="module")
def openai_dialect() -> Iterator[FakeProvider]:
    """One OpenAI-dialect fake that serves every catalogue model of every preset."""
    ids = sorted({m.id for name in PRESETS for m in catalog.default_models(name)})
    with FakeProvider(name="presets", models=ids, api_key=KEY) as fake:
        yield fake


@pytest.fixture(scope="module")
def anthropic_dialect() -> Iterator[FakeProvider]:
    ids = [m.id for m in catalog.default_models("anthropic")]
    with FakeProvider(name="anthropic", models=ids, api_key=KEY, dialect="anthropic") as fake:
        yield fake


@pytest.fixture(scope="module")
def local_server() -> Iterator[FakeProvider]:
    """A keyless local server (api_key=""), as Ollama, vLLM and LM Studio are."""
    with FakeProvider(name="local", models=LOCAL_MODELS, api_key="") as fake:
        yield fake


def point(
    preset: ProviderPreset,
    monkeypatch: pytest.MonkeyPatch,
    openai_dialect,
    anthropic_dialect,
    local_server,  # type: ignore[no-untyped-def]
) -> FakeProvider:
    """Set the preset's variables so that it is detected and reaches its fake; returns the fake."""
    assert preset.base_url_env is not None
    if preset.key_env is None:
        fake = local_server
        monkeypatch.setenv(preset.base_url_env, f"127.0.0.1:{fake.port}")  # OLLAMA_HOST style
    else:
        fake = anthropic_dialect if preset.dialect == "anthropic" else openai_dialect
        monkeypatch.setenv(preset.key_env, KEY)
        monkeypatch.setenv(preset.base_url_env, fake.base_url)
    fake.reset()
    return fake


def first_chat_model(name: str) -> str:
    chat = expand_capabilities("chat-completion")
    models = [m.id for m in catalog.default_models(name) if m.capabilities & chat]
    return models[0] if models else LOCAL_MODELS[0]  # local servers: the discovered chat model


@pytest.mark.parametrize("name", PRESETS)
def test_preset_is_detected_and_reaches_its_override(  # type: ignore[no-untyped-def]
    name, monkeypatch, openai_dialect, anthropic_dialect, local_server
) -> None:
    preset = catalog.preset(name)
    fake = point(preset, monkeypatch, openai_dialect, anthropic_dialect, local_server)
    with create("chat-completion") as client:
        assert client.active_providers() == [name]
        response = client.chat.completions.create(model="chat-completion", messages=HELLO)
    assert response.model == first_chat_model(name)
    sent = fake.requests[-1]
    assert sent.model == response.model
    if preset.dialect == "anthropic":
        assert sent.path == "/v1/messages"
        assert sent.headers["x-api-key"] == KEY and "authorization" not in sent.headers
    else:
        assert sent.path == "/v1/chat/completions"
        if preset.key_env:
            assert sent.headers["authorization"] == f"Bearer {KEY}"
        else:
            assert "authorization" not in sent.headers  # keyless: no made-up credentials


EMBEDDING_PRESETS = [
    n
    for n in PRESETS
    if not catalog.preset(n).key_env
    or any(m.capabilities & CAPABILITY_GROUPS["embeddings"] for m in catalog.default_models(n))
]


@pytest.mark.parametrize("name", EMBEDDING_PRESETS)
def test_preset_embeddings_reach_its_override(  # type: ignore[no-untyped-def]
    name, monkeypatch, openai_dialect, anthropic_dialect, local_server
) -> None:
    fake = point(catalog.preset(name), monkeypatch, openai_dialect, anthropic_dialect, local_server)
    with create("text-embeddings") as client:
        response = client.embeddings.create(model="text-embeddings", input="hello")
    assert fake.requests[-1].path == "/v1/embeddings"
    expected = [
        m.id for m in catalog.default_models(name) if m.capabilities & CAPABILITY_GROUPS["embeddings"]
    ]
    assert response.model == (expected[0] if expected else "nomic-embed-text")


@pytest.mark.parametrize("name", KEYED)
def test_a_base_url_without_a_key_does_not_detect_a_keyed_preset(name, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    preset = catalog.preset(name)
    monkeypatch.setenv(preset.base_url_env, "http://127.0.0.1:9/v1")
    with pytest.raises(RuntimeError, match="No API keys found"):
        create("chat-completion")


@pytest.mark.parametrize(
    "form",
    ["127.0.0.1:{port}", "http://127.0.0.1:{port}", "http://127.0.0.1:{port}/", "http://127.0.0.1:{port}/v1"],
)
@pytest.mark.parametrize("name", LOCAL)
def test_local_server_host_in_every_usual_form(name, form, monkeypatch, local_server) -> None:  # type: ignore[no-untyped-def]
    local_server.reset()
    monkeypatch.setenv(catalog.preset(name).base_url_env, form.format(port=local_server.port))
    with create("chat-completion") as client:
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    assert [r.path for r in local_server.requests] == ["/v1/models", "/v1/chat/completions"]
