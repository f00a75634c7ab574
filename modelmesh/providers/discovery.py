"""Model discovery: the ids an OpenAI-compatible provider lists at ``GET {api_root}/models``.

Runs once, when a mesh is built (``discover: true`` providers, ``QuickProvider`` without models); a
provider that cannot be reached gives a clear ``ConfigError`` rather than an empty pool. Also guesses
what a model known only by its id can do (``model_spec_for``). It does not refresh lists while running.
"""

from __future__ import annotations

import re

import httpx2

from modelmesh.capabilities import CAPABILITY_GROUPS, expand_capabilities
from modelmesh.errors import ConfigError
from modelmesh.types import FEATURES, ModelSpec, ProviderEndpoint


def discover_models(
    provider: ProviderEndpoint, *, timeout_s: float = 10.0, where: str | None = None
) -> list[str]:
    """The ids listed by the provider; ``where`` names it in errors (default ``providers.<name>``)."""
    url = f"{provider.base_url.rstrip('/')}/models"
    path = where or f"providers.{provider.name}"
    headers = dict(provider.headers)
    if provider.api_key is not None:
        headers["authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
    try:
        with httpx2.Client(timeout=timeout_s) as http:
            response = http.get(url, headers=headers)
    except httpx2.HTTPError as exc:
        raise ConfigError(
            f"model discovery failed: GET {url}: {type(exc).__name__}: {exc}",
            path=path,
        ) from None
    if response.status_code >= 400:
        raise ConfigError(
            f"model discovery failed: GET {url} answered HTTP {response.status_code}",
            path=path,
        )
    try:
        data = response.json().get("data", [])
        return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]
    except (ValueError, AttributeError) as exc:
        raise ConfigError(
            f"model discovery failed: GET {url} did not return an OpenAI model list ({exc})",
            path=path,
        ) from None


# A listed model says nothing about what it does; its id usually does. Checked in order, first match wins.
_KIND_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("embeddings", re.compile(r"embed|(^|[-_/.:])(e5|bge|gte|minilm|mxbai)([-_/.:]|$)", re.IGNORECASE)),
    ("speech-to-text", re.compile(r"whisper|transcribe", re.IGNORECASE)),
    ("text-to-speech", re.compile(r"(^|[-_/.:])tts([-_/.:]|$)|kokoro|piper", re.IGNORECASE)),
    ("images", re.compile(r"dall-e|gpt-image|flux|stable-diffusion|sdxl", re.IGNORECASE)),
)


def model_spec_for(model_id: str, provider: str, offered: frozenset[str]) -> ModelSpec:
    """A spec for a model known only by its id (listed by the server or named in config).

    Embedding, speech and image models are recognised by their id and get only that capability, so a
    local server's ``nomic-embed-text`` never receives chat requests. Any other model is assumed to do
    what its provider offers for chat, every feature included: a wrong guess fails over, a missing
    feature would refuse requests the model can serve.
    """
    for kind, pattern in _KIND_PATTERNS:
        if pattern.search(model_id):
            return ModelSpec(
                id=model_id,
                provider=provider,
                capabilities=expand_capabilities(kind),
                features=frozenset(),
                delivery=frozenset({"sync"}),
            )
    chat = CAPABILITY_GROUPS["chat"]
    return ModelSpec(id=model_id, provider=provider, capabilities=(offered & chat) or chat, features=FEATURES)
