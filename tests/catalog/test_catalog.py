"""The provider presets and default model catalogue shipped as data files."""

from __future__ import annotations

import pytest

from modelmesh.capabilities import CAPABILITY_GROUPS, default_tree
from modelmesh.config import MeshConfig, ModelConfig
from modelmesh.errors import UnknownNameError
from modelmesh.providers import catalog
from modelmesh.registry import CONNECTORS
from modelmesh.types import DELIVERY_MODES, FEATURES, ModelSpec

PRESETS = catalog.presets()
LEAVES = default_tree().leaves()
SEED_TABLE = {
    # provider: (key env, connector, base URL override, capability groups) — SPEC §5
    "openai": (
        "OPENAI_API_KEY",
        "openai.llm.v1",
        "OPENAI_BASE_URL",
        {"chat", "embeddings", "audio", "images"},
    ),
    "anthropic": ("ANTHROPIC_API_KEY", "anthropic.claude.v1", "ANTHROPIC_BASE_URL", {"chat"}),
    "google": ("GOOGLE_API_KEY", "google.gemini.v1", "GOOGLE_BASE_URL", {"chat", "embeddings"}),
    "groq": ("GROQ_API_KEY", "groq.api.v1", "GROQ_BASE_URL", {"chat"}),
    "mistral": ("MISTRAL_API_KEY", "mistral.api.v1", "MISTRAL_BASE_URL", {"chat", "embeddings"}),
    "together": (
        "TOGETHER_API_KEY",
        "together.api.v1",
        "TOGETHER_BASE_URL",
        {"chat", "embeddings", "images"},
    ),
    "fireworks": ("FIREWORKS_API_KEY", "fireworks.api.v1", "FIREWORKS_BASE_URL", {"chat", "embeddings"}),
    "openrouter": ("OPENROUTER_API_KEY", "openrouter.gateway.v1", "OPENROUTER_BASE_URL", {"chat"}),
    "huggingface": ("HF_TOKEN", "huggingface.inference.v1", "HUGGINGFACE_BASE_URL", {"chat", "embeddings"}),
}
ALL_MODELS = [spec for name in PRESETS for spec in catalog.default_models(name)]


def _groups(names: set[str]) -> frozenset[str]:
    return frozenset().union(*(CAPABILITY_GROUPS[name] for name in names))


@pytest.mark.parametrize("name", SEED_TABLE)
def test_seed_table_rows_match_the_spec(name):
    key_env, connector, base_url_env, groups = SEED_TABLE[name]
    row = catalog.preset(name)
    assert (row.key_env, row.connector, row.base_url_env) == (key_env, connector, base_url_env)
    assert row.capabilities == _groups(groups)


def test_extra_providers_beyond_the_seed_are_present():
    assert {"deepseek", "xai", "ollama", "vllm", "lmstudio"} <= set(PRESETS)
    assert catalog.preset("deepseek").base_url == "https://api.deepseek.com/v1"
    assert catalog.preset("xai").key_env == "XAI_API_KEY"


@pytest.mark.parametrize(
    ("name", "base_url"),
    [
        ("openai", "https://api.openai.com/v1"),
        ("anthropic", "https://api.anthropic.com"),  # host root: the SDK appends /v1/messages
        ("google", "https://generativelanguage.googleapis.com/v1beta/openai"),
        ("groq", "https://api.groq.com/openai/v1"),
        ("mistral", "https://api.mistral.ai/v1"),
        ("together", "https://api.together.xyz/v1"),
        ("fireworks", "https://api.fireworks.ai/inference/v1"),
        ("openrouter", "https://openrouter.ai/api/v1"),
        ("huggingface", "https://router.huggingface.co/v1"),
        ("ollama", "http://127.0.0.1:11434/v1"),
        ("vllm", "http://127.0.0.1:8000/v1"),
        ("lmstudio", "http://127.0.0.1:1234/v1"),
    ],
)
def test_default_base_urls(name, base_url):
    assert catalog.preset(name).base_url == base_url


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_has_a_registered_connector_and_tree_capabilities(name):
    row = PRESETS[name]
    assert row.connector in CONNECTORS.ids()
    assert row.dialect == ("anthropic" if name == "anthropic" else "openai")
    assert row.capabilities and row.capabilities <= LEAVES


@pytest.mark.parametrize("name", ["ollama", "vllm", "lmstudio"])
def test_local_servers_are_keyless_discovering_and_ship_no_models(name):
    row = catalog.preset(name)
    assert row.key_env is None and row.discover and row.host_env
    assert catalog.default_models(name) == []


def test_base_url_override_follows_each_providers_convention():
    assert (
        catalog.preset("openai").base_url_from({"OPENAI_BASE_URL": "http://127.0.0.1:9/v1/"})
        == "http://127.0.0.1:9/v1"
    )
    assert catalog.preset("openai").base_url_from({}) == "https://api.openai.com/v1"
    ollama = catalog.preset("ollama")
    assert ollama.base_url_from({"OLLAMA_HOST": "0.0.0.0:11434"}) == "http://0.0.0.0:11434/v1"
    assert ollama.base_url_from({"OLLAMA_HOST": "http://box:11434/v1"}) == "http://box:11434/v1"
    assert (
        catalog.preset("anthropic").base_url_from({"ANTHROPIC_BASE_URL": "http://127.0.0.1:7"})
        == "http://127.0.0.1:7"
    )


def test_unknown_provider_lists_the_presets():
    with pytest.raises(UnknownNameError, match="Did you mean 'openai'"):
        catalog.preset("opnai")
    with pytest.raises(UnknownNameError):
        catalog.default_models("opnai")


def test_presets_returns_a_copy():
    catalog.presets().clear()
    assert catalog.presets()


@pytest.mark.parametrize("spec", ALL_MODELS, ids=lambda spec: spec.key)
def test_every_catalogue_model_is_well_formed(spec):
    assert isinstance(spec, ModelSpec)
    assert spec.capabilities and spec.capabilities <= LEAVES
    assert spec.features <= FEATURES
    assert spec.delivery and spec.delivery <= DELIVERY_MODES
    for price in (spec.input_price, spec.output_price):
        assert price is None or price >= 0
    for limit in (spec.context_window, spec.max_output_tokens):
        assert limit is None or limit > 0


def test_model_keys_are_unique():
    keys = [spec.key for spec in ALL_MODELS]
    assert len(keys) == len(set(keys))


@pytest.mark.parametrize("name", [n for n in PRESETS if not PRESETS[n].discover])
def test_every_key_based_provider_ships_a_chat_model(name):
    chat = default_tree().resolve("chat-completion")
    assert any(chat in spec.capabilities for spec in catalog.default_models(name))


def test_seed_example_models_are_in_the_catalogue():
    for provider, model_id in [
        ("openai", "gpt-4o"),
        ("anthropic", "claude-sonnet-4-20250514"),
        ("google", "gemini-2.0-flash"),
        ("openai", "text-embedding-3-small"),
        ("groq", "llama-3.3-70b-versatile"),
        ("mistral", "mistral-embed"),
        ("deepseek", "deepseek-chat"),
    ]:
        assert catalog.find_model(provider, model_id) is not None, (provider, model_id)


def test_openai_serves_every_capability_group_it_advertises():
    served = frozenset().union(*(spec.capabilities for spec in catalog.default_models("openai")))
    assert catalog.preset("openai").capabilities <= served


def test_anthropic_models_support_assistant_prefill():
    assert all("assistant_prefill" in spec.features for spec in catalog.default_models("anthropic"))


def test_gpt_4o_entry_has_realistic_values():
    spec = catalog.find_model("openai", "gpt-4o")
    assert spec.context_window == 128000
    assert {"tool_calling", "structured_output", "vision"} <= spec.features
    assert spec.price_per_token == pytest.approx((2.5 + 10) / 1_000_000)


# -- model_spec_from_config ------------------------------------------------------------------------


def test_config_model_unknown_to_the_catalogue_defaults_to_chat():
    spec = catalog.model_spec_from_config("local.llama3", ModelConfig(provider="local"))
    assert spec.id == "llama3" and spec.key == "local.llama3"
    assert spec.capabilities == CAPABILITY_GROUPS["chat"]
    assert spec.features == {"system_prompt"}
    assert spec.input_price is None


def test_config_model_known_to_the_catalogue_inherits_unset_fields():
    config = ModelConfig(provider="openai", id="gpt-4o", pricing={"input_per_1m": 1.0})
    spec = catalog.model_spec_from_config("cheap-4o", config)
    known = catalog.find_model("openai", "gpt-4o")
    assert spec.capabilities == known.capabilities and spec.features == known.features
    assert spec.input_price == 1.0 and spec.output_price == known.output_price
    assert spec.context_window == known.context_window


def test_config_model_declarations_override_the_catalogue():
    config = ModelConfig(provider="openai", capabilities=["embeddings"], features=[], delivery=["sync"])
    spec = catalog.model_spec_from_config("openai.gpt-4o", config)
    assert spec.capabilities == CAPABILITY_GROUPS["embeddings"]
    assert spec.features == frozenset() and spec.delivery == {"sync"}


def test_config_model_may_use_custom_capabilities_of_the_config_tree():
    config = MeshConfig.load(
        {
            "capabilities": ["acme", "acme.widget-scoring"],
            "providers": {"local": {"base_url": "http://127.0.0.1:8000/v1"}},
            "models": {
                "local.scorer": {"capabilities": ["widget-scoring"], "constraints": {"context_window": 4096}}
            },
        }
    )
    spec = catalog.model_spec_from_config(
        "local.scorer", config.models["local.scorer"], config.capability_tree()
    )
    assert spec.capabilities == {"acme.widget-scoring"}
    assert spec.context_window == 4096
