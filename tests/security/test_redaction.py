"""The ``Redactor``: every secret of a mesh, in every encoding it can take on the way out."""

from __future__ import annotations

import copy
import json
import pickle
from urllib.parse import quote

import pytest
from pydantic import SecretStr

from modelmesh.config import MeshConfig
from modelmesh.config.secrets import secrets_in
from modelmesh.redaction import REDACTED, Redactor, is_credential_header
from modelmesh.types import ProviderEndpoint

KEY = 'sk-CANARY-"quoted"\\slash-é-2b7d'


def _encodings(secret: str) -> list[str]:
    return [
        secret,
        repr(secret)[1:-1],
        repr(secret.encode())[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        json.dumps(repr(secret.encode())[2:-1])[1:-1],
        quote(secret, safe=""),
    ]


@pytest.mark.parametrize("encoded", _encodings(KEY))
def test_every_encoding_of_a_secret_is_redacted_in_str_and_bytes(encoded: str) -> None:
    redactor = Redactor([KEY])
    text = f"error: Illegal header value b'Bearer {encoded}' (and again: {encoded})"
    assert redactor.redact(text) == text.replace(encoded, REDACTED)
    assert redactor.redact_bytes(text.encode()) == text.replace(encoded, REDACTED).encode()


def test_text_without_secrets_is_returned_as_is() -> None:
    redactor = Redactor(["sk-abcdefgh"])
    text = "nothing to see " * 1000
    assert redactor.redact(text) is text
    data = text.encode()
    assert redactor.redact_bytes(data) is data


def test_empty_and_very_short_values_are_not_secrets() -> None:
    # Redacting "" or "1" would mangle every message; such values are not keys.
    redactor = Redactor(["", "1", "ab"])
    assert redactor.redact("a1b") == "a1b"
    assert not redactor


def test_a_longer_secret_is_redacted_whole_when_it_contains_a_shorter_one() -> None:
    redactor = Redactor(["sk-abcd", "sk-abcd-efgh-ijkl"])
    assert redactor.redact("x sk-abcd-efgh-ijkl y") == f"x {REDACTED} y"


@pytest.mark.parametrize(
    ("name", "credential"),
    [
        ("Authorization", True),
        ("api-key", True),
        ("X-API-Key", True),
        ("x-goog-api-key", True),
        ("X-Auth-Token", True),
        ("client-secret", True),
        ("Proxy-Authorization", True),
        ("OpenAI-Organization", False),
        ("HTTP-Referer", False),
        ("anthropic-version", False),
    ],
)
def test_credential_header_names(name: str, credential: bool) -> None:
    assert is_credential_header(name) is credential


def test_for_endpoints_collects_keys_credential_headers_and_resolved_secrets() -> None:
    config = MeshConfig.load(
        {
            "secrets": {"values": {"tenant": "tenant-CANARY-9d1c", "org": "org-CANARY-77aa"}},
            "providers": {
                "gw": {
                    "base_url": "https://gw.example/${secrets:tenant}/v1",
                    "api_key": "sk-CANARY-key-1",
                    "headers": {"x-api-key": "hdr-CANARY-2", "OpenAI-Organization": "${secrets:org}"},
                }
            },
        }
    )
    provider = config.providers["gw"]
    assert provider.base_url is not None
    endpoint = ProviderEndpoint(
        "gw", "openai.compatible.v1", provider.base_url, provider.api_key, dict(provider.headers)
    )
    plain = ProviderEndpoint("plain", "openai.compatible.v1", "https://host/v1", SecretStr("sk-other-4"), {})
    redactor = Redactor.for_endpoints([endpoint, plain])
    for secret in ("tenant-CANARY-9d1c", "org-CANARY-77aa", "sk-CANARY-key-1", "hdr-CANARY-2", "sk-other-4"):
        assert redactor.redact(f"<{secret}>") == f"<{REDACTED}>", secret
    assert redactor.redact("https://gw.example/") == "https://gw.example/"
    assert set(secrets_in(provider.base_url)) == {"tenant-CANARY-9d1c"}


def test_resolved_text_keeps_its_secrets_through_copies_but_not_pickles() -> None:
    config = MeshConfig.load(
        {
            "secrets": {"values": {"t": "tenant-CANARY-1"}},
            "providers": {"gw": {"base_url": "https://gw/${secrets:t}"}},
        }
    )
    url = config.providers["gw"].base_url
    assert url is not None
    assert secrets_in(copy.deepcopy(config).providers["gw"].base_url or "") == ("tenant-CANARY-1",)
    assert secrets_in(copy.copy(url)) == ("tenant-CANARY-1",)
    assert type(pickle.loads(pickle.dumps(url))) is str
