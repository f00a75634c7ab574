"""The connector development kit: ``QuickProvider`` for any OpenAI-compatible endpoint.

A provider instance supplies its own endpoint and models to the mesh (``providers.<name>.instance`` in
config); the mesh asks it for ``endpoint(name)`` and ``model_specs(name, tree)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from modelmesh.capabilities import expand_capabilities
from modelmesh.discovery import discover_models
from modelmesh.secrets import is_credential_header
from modelmesh.types import FEATURES, ModelSpec, ProviderEndpoint

if TYPE_CHECKING:
    from modelmesh.capabilities import CapabilityTree

_NAME = "quick"


class QuickProvider:
    """An OpenAI-compatible provider from a base URL and a key; models discovered when not given.

    ``base_url`` may be the host (``https://api.example.com``) or the API root (``https://gw/v1``):
    either way requests go to ``{root}/v1/...`` once.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        models: Iterable[str] | None = None,
        timeout: float = 30.0,
        max_retries: int = 3,
        capabilities: Iterable[str] | None = None,
        *,
        headers: dict[str, str] | None = None,
        connector: str = "openai.compatible.v1",
    ) -> None:
        root = base_url.rstrip("/")
        self.base_url = root if root.endswith("/v1") else f"{root}/v1"
        self._api_key = SecretStr(api_key) if api_key else None
        self.timeout = timeout
        self.max_retries = max_retries
        self.capabilities = list(capabilities or ["chat"])
        self.headers = dict(headers or {})
        self.connector = connector
        self.models = list(models or [])
        if not self.models:
            self.models = discover_models(self.endpoint(_NAME), timeout_s=timeout)

    def endpoint(self, name: str) -> ProviderEndpoint:
        return ProviderEndpoint(
            name,
            self.connector,
            self.base_url,
            self._api_key,
            dict(self.headers),
            timeout_s=self.timeout,
            max_attempts=self.max_retries,
        )

    def model_specs(self, name: str, tree: CapabilityTree | None = None) -> list[ModelSpec]:
        capabilities = expand_capabilities(self.capabilities, tree)
        return [
            ModelSpec(id=m, provider=name, capabilities=capabilities, features=FEATURES) for m in self.models
        ]

    def __repr__(self) -> str:
        return f"QuickProvider(base_url={self.base_url!r}, models={self.models!r})"

    def __getstate__(self) -> dict[str, Any]:
        # A pickle carries no credential (docs/security.md): unpickled, the provider has no key and no
        # credential-like headers; give them again where it is rebuilt.
        state = dict(self.__dict__)
        state["_api_key"] = None
        state["headers"] = {k: v for k, v in self.headers.items() if not is_credential_header(k)}
        return state
