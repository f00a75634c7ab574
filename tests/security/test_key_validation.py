"""Finding 2: keys are validated at load (stripped; control, non-ASCII and placeholder values rejected).

A key with a trailing newline used to reach the HTTP library, whose ``Illegal header value`` error
carried the escaped key into exceptions, JSONL and proxy replies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import modelmesh
from modelmesh.cdk import QuickProvider
from modelmesh.config import MeshConfig
from modelmesh.errors import ConfigError
from modelmesh.testing import FakeProvider

KEY = "sk-CANARY-validation-5d2e"


def _provider(**fields: Any) -> dict[str, Any]:
    return {"providers": {"openai": {"base_url": "http://127.0.0.1:9/v1", **fields}}}


def _load(data: dict[str, Any]) -> MeshConfig:
    return MeshConfig.load(data)


@pytest.mark.parametrize("raw", [f"{KEY}\n", f"  {KEY}\r\n", f"\t{KEY} "])
def test_surrounding_whitespace_is_stripped_from_a_literal_key(raw: str) -> None:
    key = _load(_provider(api_key=raw)).providers["openai"].api_key
    assert key is not None and key.get_secret_value() == KEY


def test_surrounding_whitespace_is_stripped_from_a_resolved_key_and_header(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_KEY", f"{KEY}\n")
    config = _load(_provider(api_key="${secrets:MY_KEY}", headers={"x-api-key": "${secrets:MY_KEY}"}))
    provider = config.providers["openai"]
    assert provider.api_key is not None and provider.api_key.get_secret_value() == KEY
    assert provider.headers["x-api-key"] == KEY


def test_a_key_from_the_environment_is_stripped(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeProvider(name="openai", models=["gpt-4o"], api_key=KEY) as fake:
        monkeypatch.setenv("OPENAI_API_KEY", f"{KEY}\n")
        monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        client = modelmesh.create("chat-completion")
        answer = client.chat.completions.create(
            model="chat-completion", messages=[{"role": "user", "content": "hi"}]
        )
        client.close()
    assert answer.choices[0].message.content


def test_api_keys_argument_is_stripped() -> None:
    config = modelmesh.client.build_config(["chat-completion"], api_keys={"openai": f" {KEY}\n"})
    key = config.providers["openai"].api_key
    assert key is not None and key.get_secret_value() == KEY


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("sk-CANARY\x00tail", "control character"),
        ("sk-CANARY\ninner", "control character"),
        ("sk-CANARY\x1b[31m", "control character"),
        ("sk-CANARY-\u00e9t\u00e9", "non-ASCII character"),
        ("sk-CANARY\u200b-zero-width", "non-ASCII character"),
    ],
)
def test_control_and_non_ascii_characters_are_rejected_naming_the_field(raw: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(_provider(api_key=raw))
    message = str(caught.value)
    assert message.startswith("providers.openai.api_key: ")
    assert reason in message
    assert "CANARY" not in message  # the value itself is never echoed


def test_a_bad_header_value_is_rejected_naming_the_header() -> None:
    with pytest.raises(ConfigError, match=r"^providers\.openai\.headers\.api-key: contains a control"):
        _load(_provider(headers={"api-key": "abc\ndef"}))


def test_a_bad_resolved_key_is_rejected_naming_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-CANARY\x07bell")
    with pytest.raises(ConfigError) as caught:
        _load(_provider(api_key="${secrets:MY_KEY}"))
    assert str(caught.value).startswith("providers.openai.api_key: contains a control character")
    assert "CANARY" not in str(caught.value)


@pytest.mark.parametrize("placeholder", ["${OPENAI_API_KEY}", "$OPENAI_API_KEY", "os.environ/OPENAI_API_KEY"])
def test_placeholder_looking_keys_are_rejected_with_the_right_syntax(placeholder: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(_provider(api_key=placeholder))
    message = str(caught.value)
    assert message.startswith("providers.openai.api_key: ")
    assert "${secrets:OPENAI_API_KEY}" in message


def test_a_missing_secret_names_what_was_tried_and_suggests_the_standard_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with pytest.raises(ConfigError) as caught:
        _load({"providers": {"openai": {"api_key": "${secrets:openai-key}"}}})
    message = str(caught.value)
    assert "'openai-key'" in message and "'OPENAI_KEY'" in message
    assert "OPENAI_API_KEY is set" in message and "${secrets:OPENAI_API_KEY}" in message
    assert KEY not in message


def test_a_missing_secret_suggests_nothing_when_the_standard_variable_is_unset() -> None:
    with pytest.raises(ConfigError) as caught:
        _load({"providers": {"openai": {"api_key": "${secrets:openai-key}"}}})
    assert "OPENAI_API_KEY" not in str(caught.value)


def test_quick_provider_strips_its_key_and_rejects_control_characters() -> None:
    provider = QuickProvider("http://127.0.0.1:9", api_key=f"{KEY}\n", models=["m"])
    key = provider.endpoint("gw").api_key
    assert key is not None and key.get_secret_value() == KEY
    with pytest.raises(ConfigError, match=r"^providers\.gw\.api_key: contains a control character"):
        QuickProvider("http://127.0.0.1:9", api_key="sk-a\nb", models=["m"]).endpoint("gw")


def test_a_key_with_a_trailing_newline_serves_requests(tmp_path: Path) -> None:
    with FakeProvider(name="gw", models=["gpt-4o"], api_key=KEY) as fake:
        client = modelmesh.create(
            config={
                "providers": {"gw": {"base_url": fake.base_url, "api_key": f"{KEY}\n", "models": ["gpt-4o"]}},
                "pools": {"chat": {"capability": "chat-completion"}},
            }
        )
        answer = client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
        client.close()
    assert answer.choices[0].message.content
