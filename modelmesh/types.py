"""Plain value types shared by every layer: what a model is, what a provider endpoint is.

Deliberately free of behaviour and I/O (beyond checking that an endpoint's credentials can travel in an
HTTP header); the catalogue and config build them, routing reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from modelmesh.credentials import clean_credential, is_credential_header, secrets_in
from modelmesh.errors import ConfigError


class Endpoint(StrEnum):
    """The OpenAI API operations the mesh routes; values are the URL path after ``/v1/``."""

    CHAT = "chat/completions"
    EMBEDDINGS = "embeddings"
    SPEECH = "audio/speech"
    TRANSCRIPTIONS = "audio/transcriptions"
    TRANSLATIONS = "audio/translations"
    IMAGES = "images/generations"


# Feature names a model may declare and a request may require.
FEATURES = frozenset(
    {"tool_calling", "structured_output", "json_mode", "vision", "system_prompt", "assistant_prefill"}
)
DELIVERY_MODES = frozenset({"sync", "streaming", "batch"})


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One real model at one provider, as the router sees it."""

    id: str  # the provider's own id: "gpt-4o"
    provider: str  # "openai"
    capabilities: frozenset[str]  # full dotted leaf IDs: "generation.text-generation.chat-completion"
    features: frozenset[str] = frozenset({"system_prompt"})
    delivery: frozenset[str] = frozenset({"sync", "streaming"})
    context_window: int | None = None
    max_output_tokens: int | None = None
    input_price: float | None = None  # USD per 1M input tokens
    output_price: float | None = None  # USD per 1M output tokens
    # The dotted, mesh-wide unique name (``openai.gpt-4o``), computed once: routing reads it constantly.
    key: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "key", f"{self.provider}.{self.id}")

    @property
    def price_per_token(self) -> float | None:
        if self.input_price is None or self.output_price is None:
            return None
        return (self.input_price + self.output_price) / 1_000_000


@dataclass(frozen=True, slots=True)
class ProviderEndpoint:
    """Where and how to reach one provider: the connector that speaks its dialect and its credentials."""

    name: str  # "openai"
    connector_id: str  # "openai.llm.v1"
    base_url: str  # for OpenAI-dialect providers the API root incl. /v1: "https://api.openai.com/v1"
    api_key: SecretStr | None = None
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float | None = None  # caps the pools' read timeout for this provider
    max_attempts: int | None = None  # overrides the pools' attempts per model for this provider

    def __post_init__(self) -> None:
        # Endpoints also come from user objects (QuickProvider), not only from a validated config.
        if self.api_key is not None:
            key = self.api_key.get_secret_value()
            clean = clean_credential(key, f"providers.{self.name}.api_key", literal=False)
            if clean != key:
                object.__setattr__(self, "api_key", SecretStr(clean))
        check_base_url(self.base_url, f"providers.{self.name}.base_url")
        path = f"providers.{self.name}.headers"
        headers = {k: clean_credential(v, f"{path}.{k}", literal=False) for k, v in self.headers.items()}
        object.__setattr__(self, "headers", headers)

    def __reduce__(self) -> tuple[type[ProviderEndpoint], tuple[Any, ...]]:
        # A pickle carries no credential: no key, no credential-like or secret-bearing header.
        headers = {k: v for k, v in self.headers.items() if not is_credential_header(k) and not secrets_in(v)}
        base_url = str(self.base_url)
        for secret in secrets_in(self.base_url):
            base_url = base_url.replace(secret, "[redacted]")
        fields = (self.name, self.connector_id, base_url, None, headers, self.timeout_s, self.max_attempts)
        return ProviderEndpoint, fields

    def __repr__(self) -> str:
        return (
            f"ProviderEndpoint(name={self.name!r}, connector_id={self.connector_id!r}, "
            f"base_url={self.base_url!r})"
        )


def check_base_url(url: str, path: str) -> None:
    """A ``ConfigError`` unless ``url`` is http(s) without credentials (the URL itself is not echoed)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        raise ConfigError("is not a valid URL", path=path) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        got = f"got scheme {parts.scheme!r}" if parts.scheme else "it has no scheme"
        raise ConfigError(f"must start with http:// or https:// ({got})", path=path)
    if "@" in parts.netloc:
        raise ConfigError(
            "holds credentials (user:password@host), which would be sent and logged with every URL; "
            "give the key as api_key or in headers, where it is redacted",
            path=path,
        )
