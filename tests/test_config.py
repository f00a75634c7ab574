"""MeshConfig: equivalent sources, defaults, validation errors with field paths, secrets."""

from __future__ import annotations

import json
import pickle

import pytest
import yaml
from pydantic import SecretStr

from modelmesh.config import MeshConfig, ModelConfig, PoolConfig, ProviderConfig
from modelmesh.errors import ConfigError, UnknownNameError

SECRET = "sk-test-0123456789abcdef"

FULL = {
    "secrets": {"values": {"openai-key": SECRET}},
    "providers": {
        "openai": {"connector": "openai.llm.v1", "config": {"api_key": "${secrets:openai-key}"}},
        "local": {"base_url": "http://127.0.0.1:8000/v1", "models": ["llama"], "headers": {"X-Team": "a"}},
    },
    "models": {"local.llama": {"provider": "local", "capabilities": ["chat"], "features": ["tool_calling"]}},
    "pools": {
        "chat-completion": {
            "strategy": "cost-first",
            "retry": {"max_attempts": 3},
            "deactivation": {"error_rate": 0.5},
            "timeouts": {"first_token_s": 5},
        },
        "embed": {"capability": "representation.embeddings.text-embeddings", "providers": ["openai"]},
    },
    "storage": {"store": "sqlite", "path": "state.db"},
    "observability": {"connector": "modelmesh.file.v1", "path": "events.jsonl"},
}


def _error(source) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        MeshConfig.load(source)
    text = str(caught.value)
    assert "validation error" not in text and "pydantic" not in text  # never a raw pydantic error
    return caught.value


# -- equivalent sources ----------------------------------------------------------------------------


def test_yaml_json_dict_and_object_sources_are_equivalent(tmp_path):
    yaml_path = tmp_path / "mesh.yaml"
    yaml_path.write_text(yaml.safe_dump(FULL))
    json_path = tmp_path / "mesh.json"
    json_path.write_text(json.dumps(FULL))
    from_dict = MeshConfig.load(FULL)
    assert MeshConfig.load(yaml_path) == from_dict
    assert MeshConfig.load(str(json_path)) == from_dict
    assert MeshConfig.from_file(tmp_path / "mesh.yaml") == from_dict
    assert MeshConfig.load(MeshConfig.from_dict(FULL, resolve_secrets=False)) == from_dict
    assert MeshConfig.load(from_dict) is from_dict  # nothing left to resolve


def test_yml_suffix_and_empty_file_load(tmp_path):
    path = tmp_path / "empty.yml"
    path.write_text("")
    assert MeshConfig.load(path) == MeshConfig()


def test_full_config_values_are_parsed():
    config = MeshConfig.load(FULL)
    pool = config.pools["chat-completion"]
    assert pool.retry.max_attempts == 3
    assert pool.deactivation.error_rate == 0.5
    assert pool.timeouts.first_token_s == 5
    assert config.providers["local"].models == ["llama"]
    assert config.observability.path == "events.jsonl"


# -- defaults and normalisation --------------------------------------------------------------------


def test_empty_config_has_documented_defaults():
    config = MeshConfig.load({})
    assert config.secrets.store == "modelmesh.env.v1"
    assert config.storage.store == "modelmesh.memory.v1"
    assert config.storage.prefix == "modelmesh"
    assert config.observability.connector == "modelmesh.null.v1"
    assert config.observability.path == "modelmesh-events.jsonl"


def test_pool_defaults_match_the_schema():
    pool = MeshConfig.load({"pools": {"chat-completion": {}}}).pools["chat-completion"]
    assert pool.capability == "chat-completion"  # defaults to the pool's name
    assert pool.strategy == "modelmesh.stick-until-failure.v1"
    assert pool.fallback_strategy == "modelmesh.stick-until-failure.v1"
    assert pool.session.mode == "fallback" and pool.session.header == "x-session-id"
    assert pool.rate_limit_threshold == 0.8
    assert pool.deactivation.failure_threshold == 3
    assert pool.deactivation.provider_statuses == [401, 403]
    assert pool.deactivation.model_statuses == [404]
    assert pool.recovery.mode == "cooldown" and pool.recovery.cooldown_s == 60
    assert pool.retry.max_attempts == 2 and pool.retry.jitter is True
    assert pool.timeouts.total_s == 120


def test_strategy_short_names_are_normalised_to_full_ids():
    config = MeshConfig.load({"pools": {"chat-completion": {"strategy": "round-robin"}}})
    assert config.pools["chat-completion"].strategy == "modelmesh.round-robin.v1"


def test_store_and_observability_aliases_are_normalised():
    config = MeshConfig.load({"storage": {"store": "redis"}, "observability": {"connector": "console"}})
    assert config.storage.store == "modelmesh.redis.v1"
    assert config.observability.connector == "modelmesh.console.v1"


def test_provider_connector_defaults_to_the_preset_else_openai_compatible():
    config = MeshConfig.load({"providers": {"anthropic": {}, "my-gateway": {"base_url": "http://gw/v1"}}})
    assert config.providers["anthropic"].connector == "anthropic.claude.v1"
    assert config.providers["my-gateway"].connector == "openai.compatible.v1"


def test_provider_instance_is_kept_by_identity_without_a_connector():
    marker = object()
    config = MeshConfig.load({"providers": {"custom": {"instance": marker}}})
    assert config.providers["custom"].instance is marker
    assert config.providers["custom"].connector is None
    assert MeshConfig.load(config).providers["custom"].instance is marker


def test_nested_provider_config_fills_unset_fields_only():
    config = MeshConfig.load(
        {
            "providers": {
                "openai": {
                    "base_url": "http://top/v1",
                    "config": {"apiKey": "k", "base_url": "http://nested/v1", "organization": "org-1"},
                }
            }
        }
    )
    provider = config.providers["openai"]
    assert provider.api_key.get_secret_value() == "k"
    assert provider.base_url == "http://top/v1"
    assert provider.config == {"organization": "org-1"}  # connector options stay; known keys leave


def test_model_id_defaults_to_key_minus_provider_prefix_and_provider_is_inferred():
    config = MeshConfig.load(
        {"providers": {"openai": {}}, "models": {"openai.gpt-4.1": {}, "alias": {"provider": "openai"}}}
    )
    assert config.models["openai.gpt-4.1"].provider == "openai"
    assert config.models["openai.gpt-4.1"].id == "gpt-4.1"
    assert config.models["alias"].id == "alias"


def test_custom_capabilities_are_added_in_any_order_and_usable_by_pools():
    config = MeshConfig.load(
        {
            "capabilities": ["acme.widget-scoring", "acme"],
            "pools": {"widgets": {"capability": "widget-scoring"}},
        }
    )
    tree = config.capability_tree()
    assert tree.resolve("widget-scoring") == "acme.widget-scoring"


# -- invalid input: every error names the path -----------------------------------------------------


def test_out_of_range_value_names_the_path():
    error = _error({"pools": {"chat": {"capability": "chat-completion", "retry": {"max_attempts": 0}}}})
    assert str(error) == "pools.chat.retry.max_attempts: must be ≥ 1"
    assert error.path == "pools.chat.retry.max_attempts"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"rate_limit_threshold": 0}, "pools.p.rate_limit_threshold: must be > 0"),
        ({"rate_limit_threshold": 1.5}, "pools.p.rate_limit_threshold: must be ≤ 1"),
        ({"deactivation": {"error_rate": 2}}, "pools.p.deactivation.error_rate: must be ≤ 1"),
        ({"timeouts": {"stall_s": 0}}, "pools.p.timeouts.stall_s: must be > 0"),
        ({"recovery": {"cooldown_s": -1}}, "pools.p.recovery.cooldown_s: must be ≥ 0"),
        ({"session": {"mode": "loose"}}, "pools.p.session.mode: must be one of 'strict' or 'fallback'"),
        (
            {"retry": {"backoff_base_s": 5, "backoff_max_s": 1}},
            "pools.p.retry: backoff_max_s must be ≥ backoff_base_s",
        ),
    ],
)
def test_pool_constraints_are_enforced_with_paths(section, message):
    error = _error({"pools": {"p": {"capability": "chat-completion", **section}}})
    assert str(error) == message


def test_bad_type_names_the_path():
    assert (
        str(_error({"providers": {"openai": {"enabled": "maybe"}}}))
        == "providers.openai.enabled: must be true or false"
    )
    assert str(_error({"pools": []})) == "pools: must be a mapping"


def test_negative_price_names_the_path():
    error = _error({"providers": {"x": {}}, "models": {"x.m": {"pricing": {"input_per_1m": -1}}}})
    assert str(error).startswith("models.x.m.pricing.input_per_1m: must be ≥ 0")


def test_unknown_strategy_suggests_the_right_one():
    error = _error({"pools": {"chat-completion": {"strategy": "round-robbin"}}})
    assert isinstance(error, UnknownNameError)
    assert str(error).startswith(
        "pools.chat-completion.strategy: unknown strategy 'round-robbin'. Did you mean 'round-robin'"
    )


def test_unknown_connector_names_the_path():
    error = _error({"providers": {"openai": {"connector": "openai.llm.v2"}}})
    assert isinstance(error, UnknownNameError)
    assert str(error).startswith(
        "providers.openai.connector: unknown connector 'openai.llm.v2'. Did you mean"
    )


def test_unknown_pool_capability_names_the_path_and_suggests():
    error = _error({"pools": {"chat": {"capability": "chat-completon"}}})
    assert str(error).startswith(
        "pools.chat.capability: unknown capability 'chat-completon'. Did you mean 'chat-completion'"
    )


def test_pool_named_after_no_capability_fails_on_its_defaulted_capability():
    assert str(_error({"pools": {"chat": {}}})).startswith("pools.chat.capability: unknown capability 'chat'")


def test_unknown_model_capability_and_feature_name_their_index():
    error = _error({"providers": {"p": {}}, "models": {"p.m": {"features": ["vision", "tools"]}}})
    assert str(error).startswith(
        "models.p.m.features[1]: unknown feature 'tools'. Valid features: assistant_prefill"
    )
    error = _error({"providers": {"p": {}}, "models": {"p.m": {"capabilities": ["chat", "telepathy"]}}})
    assert str(error).startswith("models.p.m.capabilities[1]: unknown capability 'telepathy'")


def test_cross_section_errors_are_reported_together():
    error = _error(
        {
            "providers": {"openai": {}},
            "models": {"m": {"provider": "nobody"}},
            "pools": {"p": {"capability": "nothing"}},
        }
    )
    assert [line.split(":")[0] for line in str(error).splitlines()] == [
        "models.m.provider",
        "pools.p.capability",
    ]


def test_unknown_top_level_key_suggests_the_right_one():
    error = _error({"pool": {}})
    assert isinstance(error, UnknownNameError)
    assert str(error).startswith("pool: unknown field 'pool'. Did you mean 'pools'?")


def test_unknown_nested_key_suggests_the_right_one():
    error = _error({"pools": {"chat-completion": {"retry": {"max_attempt": 3}}}})
    assert str(error).startswith(
        "pools.chat-completion.retry.max_attempt: unknown field 'max_attempt'. Did you mean 'max_attempts'?"
    )


def test_unknown_provider_references_are_rejected():
    error = _error({"providers": {"openai": {}}, "pools": {"chat-completion": {"providers": ["opena"]}}})
    assert str(error).startswith(
        "pools.chat-completion.providers[0]: unknown provider 'opena'. Did you mean 'openai'?"
    )
    error = _error({"providers": {"openai": {}}, "models": {"m": {"provider": "anthropic"}}})
    assert str(error).startswith("models.m.provider: unknown provider 'anthropic'")


def test_unknown_secret_store_and_state_store_are_rejected():
    assert str(_error({"secrets": {"store": "vault"}})).startswith(
        "secrets.store: unknown secret store 'vault'"
    )
    assert str(_error({"storage": {"store": "redis2"}})).startswith(
        "storage.store: unknown state store 'redis2'. Did you mean 'redis'?"
    )


def test_custom_capability_with_missing_parent_names_the_index():
    assert str(_error({"capabilities": ["acme.widget"]})).startswith(
        "capabilities[0]: cannot add capability 'acme.widget'"
    )


def test_several_errors_are_reported_together_one_per_line():
    error = _error(
        {"pools": {"chat-completion": {"retry": {"max_attempts": 0}, "timeouts": {"total_s": -1}}}}
    )
    assert str(error).splitlines() == [
        "pools.chat-completion.retry.max_attempts: must be ≥ 1",
        "pools.chat-completion.timeouts.total_s: must be > 0",
    ]


def test_missing_file_names_the_file(tmp_path):
    error = _error(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(error) and "not found" in str(error)


def test_bad_yaml_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("pools:\n  chat: [unclosed\n")
    error = _error(path)
    assert "bad.yaml" in str(error) and "not valid YAML" in str(error) and "line" in str(error)


def test_bad_json_names_the_file(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"pools": ')
    assert "bad.json" in str(_error(path)) and "not valid JSON" in str(_error(path))


def test_yaml_that_is_not_a_mapping_is_rejected(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    assert "must hold a mapping" in str(_error(path))


def test_unsupported_file_suffix_is_rejected(tmp_path):
    path = tmp_path / "mesh.toml"
    path.write_text("")
    assert "unsupported type '.toml'" in str(_error(path))


def test_source_of_the_wrong_type_is_rejected():
    assert "got int" in str(_error(42))


def test_direct_construction_and_model_validate_raise_config_error_too():
    with pytest.raises(ConfigError, match=r"pools\.p\.retry\.max_attempts"):
        MeshConfig(pools={"p": {"capability": "ocr", "retry": {"max_attempts": 0}}})
    with pytest.raises(ConfigError, match=r"^pool: unknown field"):
        MeshConfig.model_validate({"pool": {}})


# -- secrets ---------------------------------------------------------------------------------------


def _provider_key(config: MeshConfig, name: str = "openai") -> str:
    return config.providers[name].api_key.get_secret_value()


def test_secret_reference_resolves_from_the_environment(monkeypatch):
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    config = MeshConfig.load({"providers": {"openai": {"api_key": "${secrets:openai-key}"}}})
    assert _provider_key(config) == SECRET


def test_secret_reference_resolves_from_a_dotenv_file(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_KEY", raising=False)
    dotenv = tmp_path / "keys.env"
    dotenv.write_text(f'export OPENAI_KEY="{SECRET}"\n')
    config = MeshConfig.load(
        {
            "secrets": {"store": "modelmesh.dotenv.v1", "path": str(dotenv)},
            "providers": {"openai": {"config": {"api_key": "${secrets:openai-key}"}}},
        }
    )
    assert _provider_key(config) == SECRET


def test_missing_dotenv_file_names_the_secrets_path(tmp_path):
    error = _error({"secrets": {"store": "dotenv", "path": str(tmp_path / "absent.env")}})
    assert str(error).startswith("secrets.path:") and "absent.env" in str(error)


def test_inline_secret_values_win_over_the_store(monkeypatch):
    monkeypatch.setenv("OPENAI_KEY", "from-env")
    config = MeshConfig.load(
        {
            "secrets": {"values": {"openai-key": "inline"}},
            "providers": {"openai": {"api_key": "${secrets:openai-key}"}},
        }
    )
    assert _provider_key(config) == "inline"


def test_references_resolve_inside_longer_strings_and_nested_sections():
    config = MeshConfig.load(
        {
            "secrets": {"values": {"token": "T", "host": "gw.internal", "redis-pass": "pw"}},
            "providers": {
                "gw": {
                    "base_url": "https://${secrets:host}/v1",
                    "headers": {"Authorization": "Bearer ${secrets:token}"},
                    "config": {"organization": "org-${secrets:token}"},
                }
            },
            "storage": {"store": "redis", "url": "redis://:${secrets:redis-pass}@localhost:6379/0"},
            "observability": {"options": {"auth": ["${secrets:token}"]}},
        }
    )
    gateway = config.providers["gw"]
    assert gateway.base_url == "https://gw.internal/v1"
    assert gateway.headers == {"Authorization": "Bearer T"}
    assert gateway.config == {"organization": "org-T"}
    assert config.storage.url.get_secret_value() == "redis://:pw@localhost:6379/0"
    assert config.observability.options == {"auth": ["T"]}


def test_missing_secret_names_the_field_path_and_the_secret(monkeypatch):
    monkeypatch.delenv("ANTHROPIC_KEY", raising=False)
    error = _error({"providers": {"anthropic": {"config": {"api_key": "${secrets:anthropic-key}"}}}})
    assert str(error).startswith("providers.anthropic.api_key: secret 'anthropic-key' not found")
    assert "ANTHROPIC_KEY" in str(error)


def test_every_missing_secret_is_reported():
    error = _error(
        {
            "providers": {"a": {"api_key": "${secrets:no-such-a}"}},
            "storage": {"url": "redis://${secrets:no-such-b}"},
        }
    )
    assert [line.split(":")[0] for line in str(error).splitlines()] == ["providers.a.api_key", "storage.url"]


def test_disabled_providers_are_not_resolved():
    config = MeshConfig.load({"providers": {"old": {"enabled": False, "api_key": "${secrets:no-such-key}"}}})
    assert config.providers["old"].api_key.get_secret_value() == "${secrets:no-such-key}"


def test_resolution_can_be_deferred_and_is_idempotent():
    source = {"secrets": {"values": {"k": SECRET}}, "providers": {"openai": {"api_key": "${secrets:k}"}}}
    unresolved = MeshConfig.from_dict(source, resolve_secrets=False)
    assert _provider_key(unresolved) == "${secrets:k}"
    resolved = unresolved.resolve_secrets()
    assert _provider_key(resolved) == SECRET
    assert resolved.resolve_secrets() is resolved
    assert _provider_key(unresolved) == "${secrets:k}"  # resolution returns a copy


def _resolved_with_secrets() -> MeshConfig:
    return MeshConfig.load(
        {
            "secrets": {"values": {"openai-key": SECRET, "redis": SECRET}},
            "providers": {
                "openai": {"api_key": "${secrets:openai-key}", "headers": {"X-Key": "${secrets:openai-key}"}},
                "literal": {"base_url": "http://x/v1", "config": {"api_key": SECRET}},
            },
            "storage": {"url": "redis://:${secrets:redis}@h"},
        }
    )


def test_secrets_never_appear_in_repr_str_or_json_dump():
    config = _resolved_with_secrets()
    assert SECRET not in repr(config)
    assert SECRET not in str(config)
    assert SECRET not in repr(config.providers["openai"])
    assert SECRET not in config.model_dump_json()
    assert SECRET not in str(config.model_dump())
    assert isinstance(config.model_dump()["providers"]["openai"]["api_key"], SecretStr)
    # A header resolved from a secret dumps as its template, so a dump re-loads to the same config.
    assert config.model_dump()["providers"]["openai"]["headers"] == {"X-Key": "${secrets:openai-key}"}
    assert config.providers["openai"].headers == {"X-Key": SECRET}


def test_secrets_never_appear_in_pickles_and_references_survive_them():
    config = _resolved_with_secrets()
    data = pickle.dumps(config)
    assert SECRET.encode() not in data
    restored = pickle.loads(data)
    assert _provider_key(restored) == "${secrets:openai-key}"
    assert restored.providers["literal"].api_key is None  # a literal secret is dropped, not pickled
    assert restored.secrets.values == {}


def test_pickled_unresolved_config_resolves_again_after_loading(monkeypatch):
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    config = MeshConfig.load({"providers": {"openai": {"api_key": "${secrets:openai-key}"}}})
    restored = pickle.loads(pickle.dumps(config))
    assert _provider_key(MeshConfig.load(restored)) == SECRET


def test_errors_never_echo_secret_values():
    errors = [
        _error({"providers": {"openai": {"api_kye": SECRET}}}),
        _error({"providers": {"openai": {"api_key": SECRET, "enabled": "no way"}}}),
        _error(
            {
                "secrets": {"values": {"k": SECRET}},
                "providers": {"openai": {"api_key": "${secrets:k}", "x": 1}},
            }
        ),
        _error({"secrets": {"values": {"k": SECRET}}, "storage": {"url": "${secrets:k}", "prefix": 3}}),
    ]
    for error in errors:
        assert SECRET not in str(error)
        assert SECRET not in repr(error)


def test_sub_models_are_importable_schema_types():
    assert ProviderConfig().enabled is True
    assert ModelConfig(provider="openai").delivery == ["sync", "streaming"]
    assert PoolConfig().retry.backoff_max_s == 8
