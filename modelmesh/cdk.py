"""The connector development kit: ``QuickProvider`` for any OpenAI-compatible endpoint.

A provider instance supplies its own endpoint and models to the mesh (``providers.<name>.instance`` in
config); the mesh asks it for ``endpoint(name)`` and ``model_specs(name, tree)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from modelmesh.capabilities import expand_capabilities
from modelmesh.credentials import is_credential_header
from modelmesh.providers.discovery import discover_models
from modelmesh.types import FEATURES, ModelSpec, ProviderEndpoint

if TYPE_CHECKING:
    from modelmesh.capabilities import CapabilityTree

_NAME = "quick"


class QuickProvider:
    """An OpenAI-compatible provider from a base URL and a key; models discovered when not given.

    ``base_url`` is the host (``https://api.example.com``: ``/v1`` is added) or the API root, used as
    given (``https://gw/v1``, ``https://generativelanguage.googleapis.com/v1beta/openai``). Without
    ``models``, they are listed from ``{root}/models`` when first needed: when the mesh is built (a
    failure then names the provider as config names it) or when ``models`` is read.
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
        self.base_url = api_root(base_url)
        self._api_key = SecretStr(api_key) if api_key else None
        self.timeout = timeout
        self.max_retries = max_retries
        self.capabilities = list(capabilities or ["chat"])
        self.headers = dict(headers or {})
        self.connector = connector
        self._models = list(models) if models else None

    @property
    def models(self) -> list[str]:
        """The model ids: as given, else discovered (once) from the API root's model list."""
        if self._models is None:
            where = f"QuickProvider(base_url={self.base_url!r})"
            self._models = discover_models(self.endpoint(_NAME), timeout_s=self.timeout, where=where)
        return self._models

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
        if self._models is None:
            self._models = discover_models(self.endpoint(name), timeout_s=self.timeout)
        capabilities = expand_capabilities(self.capabilities, tree)
        return [
            ModelSpec(id=m, provider=name, capabilities=capabilities, features=FEATURES) for m in self.models
        ]

    def __repr__(self) -> str:
        models = "(not yet discovered)" if self._models is None else repr(self._models)
        return f"QuickProvider(base_url={self.base_url!r}, models={models})"

    def __getstate__(self) -> dict[str, Any]:
        # A pickle carries no credential (docs/security.md): unpickled, the provider has no key and no
        # credential-like headers; give them again where it is rebuilt.
        state = dict(self.__dict__)
        state["_api_key"] = None
        state["headers"] = {k: v for k, v in self.headers.items() if not is_credential_header(k)}
        return state


def api_root(base_url: str) -> str:
    """The API root of a base URL: a bare host gets the seed's ``/v1``; any path is kept as given."""
    root = base_url.rstrip("/")
    return root if urlsplit(root).path else f"{root}/v1"
