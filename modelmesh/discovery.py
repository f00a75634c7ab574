"""Model discovery: the ids an OpenAI-compatible provider lists at ``GET {api_root}/models``.

Runs once, when a mesh is built (``discover: true`` providers, ``QuickProvider`` without models); a
provider that cannot be reached gives a clear ``ConfigError`` rather than an empty pool.
"""

from __future__ import annotations

import httpx2

from modelmesh.errors import ConfigError
from modelmesh.types import ProviderEndpoint


def discover_models(provider: ProviderEndpoint, *, timeout_s: float = 10.0) -> list[str]:
    url = f"{provider.base_url.rstrip('/')}/models"
    headers = dict(provider.headers)
    if provider.api_key is not None:
        headers["authorization"] = f"Bearer {provider.api_key.get_secret_value()}"
    try:
        with httpx2.Client(timeout=timeout_s) as http:
            response = http.get(url, headers=headers)
    except httpx2.HTTPError as exc:
        raise ConfigError(
            f"model discovery failed: GET {url}: {type(exc).__name__}: {exc}",
            path=f"providers.{provider.name}",
        ) from None
    if response.status_code >= 400:
        raise ConfigError(
            f"model discovery failed: GET {url} answered HTTP {response.status_code}",
            path=f"providers.{provider.name}",
        )
    try:
        data = response.json().get("data", [])
        return [str(item["id"]) for item in data if isinstance(item, dict) and "id" in item]
    except (ValueError, AttributeError) as exc:
        raise ConfigError(
            f"model discovery failed: GET {url} did not return an OpenAI model list ({exc})",
            path=f"providers.{provider.name}",
        ) from None
