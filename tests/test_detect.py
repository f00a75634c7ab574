"""Auto-detection mistakes caught at create(): a named provider without its key is an error naming the key."""

from __future__ import annotations

import pytest

from modelmesh import create
from modelmesh.errors import NoProvidersError
from modelmesh.providers.detect import detected_providers


def test_no_key_at_all_keeps_the_seed_message() -> None:
    with pytest.raises(RuntimeError, match=r"^No API keys found\. Set at least one provider API key"):
        detected_providers({})


def test_named_provider_without_its_key_names_the_variable_not_no_keys_found() -> None:
    environ = {"OPENAI_API_KEY": "sk-x", "ANTHROPIC_API_KEY": "sk-ant-x"}
    with pytest.raises(RuntimeError, match="GROQ_API_KEY") as info:
        detected_providers(environ, only=["groq"])
    assert isinstance(info.value, NoProvidersError)
    assert "No API keys found" not in str(info.value)
    assert "providers= names groq" in str(info.value)


def test_one_of_two_named_providers_without_its_key_is_an_error_not_a_silent_drop() -> None:
    with pytest.raises(RuntimeError, match="GROQ_API_KEY") as info:
        detected_providers({"OPENAI_API_KEY": "sk-x"}, only=["openai", "groq"])
    assert "openai" not in str(info.value)  # only the missing one is blamed


def test_several_missing_keys_are_all_named() -> None:
    with pytest.raises(RuntimeError, match="GROQ_API_KEY") as info:
        detected_providers({}, only=["groq", "mistral"])
    assert "MISTRAL_API_KEY" in str(info.value)


def test_named_provider_missing_from_api_keys_names_api_keys() -> None:
    with pytest.raises(RuntimeError, match=r"api_keys has no 'groq' entry"):
        detected_providers({"GROQ_API_KEY": "gsk-x"}, only=["groq"], api_keys={"openai": "sk-x"})


def test_named_local_server_without_its_host_names_the_host_variable() -> None:
    with pytest.raises(RuntimeError, match="OLLAMA_HOST"):
        detected_providers({"OPENAI_API_KEY": "sk-x"}, only=["ollama"])


def test_create_with_named_provider_missing_its_key(fakes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError, match="MISTRAL_API_KEY"):
        create("chat-completion", providers=["openai", "mistral"])


def test_the_missing_key_error_never_shows_a_secret(fakes) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RuntimeError) as info:
        create("chat-completion", providers=["openai", "mistral"])
    assert fakes[0].api_key not in str(info.value) and fakes[1].api_key not in str(info.value)
