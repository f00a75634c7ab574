"""Secret stores (environment, .env files, inline values) and ``${secrets:NAME}`` substitution."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, SecretStr

from modelmesh.config.secrets import (
    ChainSecretStore,
    DotenvSecretStore,
    EnvSecretStore,
    MappingSecretStore,
    SecretStore,
    env_name,
    parse_dotenv,
    references,
    resolve_references,
    substitute,
)
from modelmesh.errors import ConfigError
from modelmesh.registry import SECRET_STORES

SECRET = "sk-very-secret-value"


def test_registry_ids_resolve_to_the_stores():
    assert SECRET_STORES.get("modelmesh.env.v1") is EnvSecretStore
    assert SECRET_STORES.get("dotenv") is DotenvSecretStore


@pytest.mark.parametrize("store", [EnvSecretStore(), MappingSecretStore({}), ChainSecretStore()])
def test_stores_satisfy_the_protocol(store):
    assert isinstance(store, SecretStore)


# -- environment -----------------------------------------------------------------------------------


def test_env_store_reads_the_exact_name_first(monkeypatch):
    monkeypatch.setenv("openai-key", "exact")
    monkeypatch.setenv("OPENAI_KEY", "upper")
    assert EnvSecretStore().get("openai-key") == "exact"


def test_env_store_falls_back_to_upper_case_with_underscores(monkeypatch):
    monkeypatch.delenv("openai-key", raising=False)
    monkeypatch.setenv("OPENAI_KEY", SECRET)
    assert EnvSecretStore().get("openai-key") == SECRET
    assert env_name("azure.openai-key") == "AZURE_OPENAI_KEY"


def test_env_store_reads_the_environment_at_lookup_time(monkeypatch):
    store = EnvSecretStore()
    monkeypatch.setenv("LATE_KEY", "set after construction")
    assert store.get("late-key") == "set after construction"


def test_env_store_returns_none_for_an_unknown_name():
    assert EnvSecretStore({}).get("nothing-here") is None


# -- .env files ------------------------------------------------------------------------------------

DOTENV = """
# a comment line
export OPENAI_KEY=sk-openai   # trailing comment
ANTHROPIC_KEY = "sk-ant \\"quoted\\""
SINGLE='literal \\n # not a comment'
MULTI="-----BEGIN KEY-----
abc
-----END KEY-----"
EMPTY=
HASH=abc#def
not a key value line
"""


def test_parse_dotenv_handles_export_quotes_comments_and_multiline_values():
    values = parse_dotenv(DOTENV)
    assert values == {
        "OPENAI_KEY": "sk-openai",
        "ANTHROPIC_KEY": 'sk-ant "quoted"',
        "SINGLE": "literal \\n # not a comment",
        "MULTI": "-----BEGIN KEY-----\nabc\n-----END KEY-----",
        "EMPTY": "",
        "HASH": "abc#def",
    }


def test_dotenv_store_reads_the_file_and_normalises_names(tmp_path):
    path = tmp_path / ".env"
    path.write_text(DOTENV)
    store = DotenvSecretStore(path, environ={})
    assert store.get("openai-key") == "sk-openai"
    assert store.get("OPENAI_KEY") == "sk-openai"


def test_dotenv_store_falls_back_to_the_environment(tmp_path, monkeypatch):
    path = tmp_path / ".env"
    path.write_text("A=1\n")
    monkeypatch.setenv("ONLY_IN_ENV", "from env")
    assert DotenvSecretStore(path).get("only-in-env") == "from env"


def test_dotenv_store_with_an_explicit_missing_file_raises_naming_it(tmp_path):
    with pytest.raises(ConfigError, match=r"not-there\.env"):
        DotenvSecretStore(tmp_path / "not-there.env")


def test_dotenv_store_without_a_path_tolerates_a_missing_default_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("X_KEY", "x")
    assert DotenvSecretStore().get("x-key") == "x"


def test_store_reprs_never_show_values(tmp_path):
    path = tmp_path / ".env"
    path.write_text(f"KEY={SECRET}\n")
    stores = [DotenvSecretStore(path), MappingSecretStore({"key": SECRET}), EnvSecretStore()]
    for store in [*stores, ChainSecretStore(*stores)]:
        assert SECRET not in repr(store)


# -- substitution ----------------------------------------------------------------------------------


def test_substitute_replaces_references_inside_longer_strings():
    store = MappingSecretStore({"token": "abc", "host": "gw.internal"})
    assert substitute("Bearer ${secrets:token} @ ${secrets: host }", store) == "Bearer abc @ gw.internal"
    assert references("${secrets:a}-${secrets:b}") == ["a", "b"]


def test_substitute_raises_key_error_with_the_name_only():
    with pytest.raises(KeyError) as caught:
        substitute("${secrets:missing}", MappingSecretStore({}))
    assert caught.value.args == ("missing",)


def test_chain_store_takes_the_first_store_that_knows_a_name():
    chain = ChainSecretStore(MappingSecretStore({"a": "inline"}), EnvSecretStore({"A": "env", "B": "env-b"}))
    assert chain.get("a") == "inline"
    assert chain.get("b") == "env-b"
    assert chain.get("c") is None


class _Inner(BaseModel):
    key: SecretStr | None = None
    headers: dict[str, str] = {}


class _Outer(BaseModel):
    inner: _Inner
    names: list[str] = []
    other: object = None


def test_resolve_references_walks_models_dicts_lists_and_secret_strings():
    marker = object()
    value = _Outer(
        inner=_Inner(key=SecretStr("${secrets:k}"), headers={"X-Token": "t=${secrets:t}"}),
        names=["plain", "${secrets:n}"],
        other=marker,
    )
    missing: list[tuple[str, str]] = []
    resolved = resolve_references(value, MappingSecretStore({"k": "K", "t": "T", "n": "N"}), missing)
    assert missing == []
    assert resolved.inner.key.get_secret_value() == "K"
    assert resolved.inner.headers == {"X-Token": "t=T"}
    assert resolved.names == ["plain", "N"]
    assert resolved.other is marker
    assert value.inner.key.get_secret_value() == "${secrets:k}"  # the input is not mutated


def test_resolve_references_keeps_unchanged_structures_by_identity():
    value = _Outer(inner=_Inner(headers={"a": "b"}))
    assert resolve_references(value, MappingSecretStore({}), []) is value


def test_resolve_references_reports_missing_names_with_their_paths():
    value = _Outer(inner=_Inner(key=SecretStr("${secrets:gone}")), names=["${secrets:also-gone}"])
    missing: list[tuple[str, str]] = []
    resolve_references(value, MappingSecretStore({}), missing)
    assert missing == [("inner.key", "gone"), ("names[0]", "also-gone")]
