"""``ModelMeshEmbeddings``: LangChain ``Embeddings`` over a ModelMesh embeddings pool.

A small class of its own rather than langchain-openai's ``OpenAIEmbeddings``: that one tokenizes with
tiktoken by default (a download at first use, so it fails offline) and splits texts by token counts
of OpenAI's models, while a pool may be served by several providers with their own limits. This one
sends texts as they are, in batches of ``chunk_size``, through the SDK's ``embeddings.create``.
"""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from langchain_modelmesh._clients import mesh_clients, pool_name, resolve_mesh, secret_safe_config
from modelmesh.client import AsyncMeshClient, MeshClient
from modelmesh.mesh import ModelMesh


class ModelMeshEmbeddings(BaseModel, Embeddings):
    """Embeddings from a ModelMesh pool; build it like ``modelmesh.create()``::

    ModelMeshEmbeddings("text-embeddings")
    ModelMeshEmbeddings(config=cfg, model="text-embeddings")
    ModelMeshEmbeddings(mesh_client=client)   # share a MeshClient's mesh (and pool state)
    """

    model_config = ConfigDict(populate_by_name=True, arbitrary_types_allowed=True)

    model: str | None = None
    """The pool to use (or a real model id in one); defaults to the first capability or the only pool."""
    capabilities: list[str] | None = None
    pool: str | None = None
    config: Any = Field(default=None, exclude=True, repr=False)
    """A config file path, dict or ``MeshConfig``; a dict is kept as a ``MeshConfig`` (no key in reprs)."""
    mesh_client: Any = Field(default=None, exclude=True, repr=False)
    providers: list[str] | None = None
    strategy: str | None = None
    chunk_size: int = Field(default=1000, gt=0)
    """Texts per request."""
    dimensions: int | None = None
    """Output dimensions, for models that can shorten their embeddings."""
    timeout: float | None = None

    _client: MeshClient = PrivateAttr()
    _async_client: AsyncMeshClient = PrivateAttr()

    def __init__(self, *capabilities: str, **kwargs: Any) -> None:
        if capabilities:
            kwargs["capabilities"] = list(capabilities)
        super().__init__(**kwargs)

    @field_validator("config", mode="before")
    @classmethod
    def _secret_safe_config(cls, config: Any) -> Any:
        return secret_safe_config(config)

    @model_validator(mode="after")
    def _connect_mesh(self) -> ModelMeshEmbeddings:
        capabilities = self.capabilities
        if self.model and self.mesh_client is None and not (capabilities or self.pool or self.config):
            capabilities = [self.model]  # ModelMeshEmbeddings(model="text-embeddings") as create(...)
        mesh = resolve_mesh(
            mesh_client=self.mesh_client,
            capabilities=capabilities,
            pool=self.pool,
            config=self.config,
            providers=self.providers,
            strategy=self.strategy,
        )
        self.model = pool_name(mesh, self.model or self.pool, capabilities)
        options = {"timeout": self.timeout} if self.timeout is not None else {}
        self._client, self._async_client = mesh_clients(mesh, **options)
        return self

    @property
    def mesh(self) -> ModelMesh:
        return self._client.mesh

    def close(self) -> None:
        self._client.close()

    async def aclose(self) -> None:
        """Close both clients; call it in the event loop that used the async methods."""
        self._client.close()
        await self._async_client.close()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.chunk_size):
            batch = texts[start : start + self.chunk_size]
            response = self._client.embeddings.create(input=batch, **self._params())
            vectors += _in_order(response.data)
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for start in range(0, len(texts), self.chunk_size):
            batch = texts[start : start + self.chunk_size]
            response = await self._async_client.embeddings.create(input=batch, **self._params())
            vectors += _in_order(response.data)
        return vectors

    async def aembed_query(self, text: str) -> list[float]:
        return (await self.aembed_documents([text]))[0]

    def _params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model}
        if self.dimensions is not None:
            params["dimensions"] = self.dimensions
        return params


def _in_order(data: list[Any]) -> list[list[float]]:
    # The API numbers each vector; providers are not bound to answer in input order.
    return [list(map(float, item.embedding)) for item in sorted(data, key=lambda item: item.index)]
