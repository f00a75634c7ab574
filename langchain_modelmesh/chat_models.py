"""``ChatModelMesh``: a LangChain chat model whose requests are routed by a ModelMesh.

It is langchain-openai's ``BaseChatOpenAI`` over a sync and an async ``MeshClient`` sharing one mesh,
so everything ``ChatOpenAI`` does over Chat Completions (tools, structured output, streaming, usage)
works unchanged, and the mesh adds retry, rotation and failover underneath. What it adds on top: the
pool as the model name, the routing facts of each answer in ``response_metadata["modelmesh"]``, and
an offline token estimate. It uses Chat Completions unless asked for the Responses API
(``use_responses_api=True``), which the mesh also routes (ADR 0003); nothing switches to it implicitly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import LangSmithParams
from langchain_core.messages import BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_openai.chat_models.base import BaseChatOpenAI
from pydantic import Field, model_validator

from langchain_modelmesh._clients import (
    MeshSource,
    capture_routing,
    mesh_clients,
    pool_name,
    resolve_mesh,
    secret_safe_config,
)
from langchain_modelmesh.tokens import estimate_message_tokens, estimate_token_ids
from modelmesh.client import AsyncMeshClient, MeshClient
from modelmesh.mesh import ModelMesh, PoolStatus

# BaseChatOpenAI fields that would make it build or use clients of its own; the mesh supplies them.
_CLIENT_FIELDS: tuple[str, ...] = ("client", "root_client", "async_client", "root_async_client")
_CLIENT_FIELDS += ("http_client", "http_async_client", "openai_proxy")


class ChatModelMesh(BaseChatOpenAI):
    """A chat model over a ModelMesh pool; ``model_name`` is the pool, answers name the real model.

    Build it like ``modelmesh.create()``::

        ChatModelMesh("chat-completion")                 # capabilities, providers from the env
        ChatModelMesh(capabilities=["chat-completion"], strategy="round-robin")
        ChatModelMesh(pool="text-generation")            # a predefined pool
        ChatModelMesh(config="modelmesh.yaml", model="chat-completion")
        ChatModelMesh(mesh_client=modelmesh.create("chat-completion"))  # share an existing mesh

    ``mesh_client`` may be a ``MeshClient``, an ``AsyncMeshClient`` or a ``ModelMesh``: the model
    builds both client twins over that mesh, so sync and async calls share its routing state.
    ``max_retries`` defaults to 0 because the mesh already retries and fails over.
    """

    capabilities: list[str] | None = None
    """Capabilities to route, as for ``modelmesh.create(*capabilities)``; the first names the pool."""
    pool: str | None = None
    """A predefined pool (``"text-generation"``), as for ``modelmesh.create(pool=...)``."""
    config: Any = Field(default=None, exclude=True, repr=False)
    """A config file path, dict or ``MeshConfig``, as for ``modelmesh.create(config=...)``; a dict is
    kept as a ``MeshConfig``, so no literal key shows in a repr, ``dumpd`` or a callback payload."""
    mesh_client: Any = Field(default=None, exclude=True, repr=False)
    """An existing ``MeshClient`` / ``AsyncMeshClient`` / ``ModelMesh`` whose mesh to use."""
    providers: list[str] | None = None
    """Only these auto-detected providers (``create(providers=...)``)."""
    strategy: str | None = None
    """Rotation strategy for the pools built here (``create(strategy=...)``)."""

    def __init__(self, *capabilities: str, **kwargs: Any) -> None:
        if capabilities:
            if kwargs.get("capabilities"):
                raise TypeError("pass capabilities positionally or as capabilities=, not both")
            kwargs["capabilities"] = list(capabilities)
        super().__init__(**kwargs)

    @model_validator(mode="before")
    @classmethod
    def _connect_mesh(cls, values: Any) -> Any:
        """Build the mesh and its client twins before BaseChatOpenAI's validator would build its own."""
        if not isinstance(values, dict):
            return values
        values = dict(values)
        # Off unless asked for: it then wins over output_version, model names and tool types.
        values["use_responses_api"] = bool(values.get("use_responses_api"))
        source = values.get("mesh_client")
        if isinstance(values.get("client"), MeshClient | AsyncMeshClient | ModelMesh) and source is None:
            source = values.pop("client")  # `client=create(...)` reads naturally; accept it
        given = [name for name in _CLIENT_FIELDS if values.get(name) is not None]
        if given:
            raise ValueError(
                f"ChatModelMesh builds its own OpenAI clients over the mesh; got {', '.join(given)}. "
                "Pass mesh_client=<MeshClient> to share an existing mesh."
            )
        mesh, name = _mesh_and_pool(values, source)
        options = {
            key: value
            for key, value in (
                ("timeout", values.get("timeout", values.get("request_timeout"))),
                ("max_retries", values.get("max_retries")),
                ("default_headers", values.get("default_headers")),
                ("default_query", values.get("default_query")),
            )
            if value is not None
        }
        sync_client, async_client = mesh_clients(mesh, **options)
        values.pop("model_name", None)
        values.update(
            model=name,
            mesh_client=source,
            root_client=sync_client,
            client=sync_client.chat.completions,
            root_async_client=async_client,
            async_client=async_client.chat.completions,
        )
        values.setdefault("stream_usage", True)  # off by default for custom clients in BaseChatOpenAI
        return values

    # -- the mesh ------------------------------------------------------------------------------------

    @property
    def mesh(self) -> ModelMesh:
        """The ``ModelMesh`` routing this model's requests."""
        mesh: ModelMesh = self.root_client.mesh
        return mesh

    def pool_status(self) -> PoolStatus:
        """Health of this model's pool (``client.pool_status()[pool]``)."""
        return self.mesh.pool_status()[self.model_name]

    def close(self) -> None:
        """Close the sync client's provider connections (the async one needs :meth:`aclose`)."""
        self.root_client.close()

    async def aclose(self) -> None:
        """Close both clients' provider connections; call it in the event loop that used the model.

        Like any ``AsyncOpenAI``, the async client's pooled connections belong to the loop that
        opened them: a model used under several ``asyncio.run()`` calls should be closed in each.
        """
        self.root_client.close()
        await self.root_async_client.close()

    # -- LangChain identity --------------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "modelmesh-chat"

    @classmethod
    def is_lc_serializable(cls) -> bool:
        # A mesh holds live clients and state; langchain-core would not load this namespace anyway.
        return False

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = "modelmesh"
        return params

    # -- offline token counting ----------------------------------------------------------------------

    def get_token_ids(self, text: str) -> list[int]:
        if self.custom_get_token_ids is not None:
            return self.custom_get_token_ids(text)
        return estimate_token_ids(text)

    def get_num_tokens_from_messages(
        self,
        messages: Sequence[BaseMessage],
        tools: Sequence[Any] | None = None,
        **_: Any,
    ) -> int:
        return estimate_message_tokens(messages, tools)

    # -- routing facts on every answer ---------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with capture_routing() as seen:
            result = super()._generate(messages, stop, run_manager, **kwargs)
        return _with_facts(result, seen)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        with capture_routing() as seen:
            result = await super()._agenerate(messages, stop, run_manager, **kwargs)
        return _with_facts(result, seen)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        chunks = super()._stream(messages, stop, run_manager, **kwargs)
        try:
            # The request is made by the first step, so only that step runs inside the capture.
            with capture_routing() as seen:
                first = next(chunks, None)
            if first is None:
                return
            yield _chunk_with_facts(first, seen)
            yield from chunks
        finally:
            chunks.close()  # type: ignore[attr-defined]  # a generator, typed as an Iterator upstream

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        chunks = super()._astream(messages, stop, run_manager, **kwargs)
        try:
            with capture_routing() as seen:
                first = await anext(chunks, None)
            if first is None:
                return
            yield _chunk_with_facts(first, seen)
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]  # an async generator upstream


def _mesh_and_pool(values: dict[str, Any], source: MeshSource | None) -> tuple[ModelMesh, str]:
    requested = values.get("model") or values.get("model_name")
    capabilities = values.get("capabilities")
    if isinstance(capabilities, str):
        capabilities = values["capabilities"] = [capabilities]
    pool = values.get("pool")
    config = values["config"] = secret_safe_config(values.get("config"))
    if requested and source is None and not (capabilities or pool or config is not None):
        capabilities = [requested]  # ChatModelMesh(model="chat-completion") is create("chat-completion")
    mesh = resolve_mesh(
        mesh_client=source,
        capabilities=capabilities,
        pool=pool,
        config=config,
        providers=values.get("providers"),
        strategy=values.get("strategy"),
    )
    return mesh, pool_name(mesh, requested or pool, capabilities)


def _with_facts(result: ChatResult, seen: list[dict[str, Any]]) -> ChatResult:
    if seen:
        for generation in result.generations:
            generation.message.response_metadata["modelmesh"] = dict(seen[-1])
    return result


def _chunk_with_facts(chunk: ChatGenerationChunk, seen: list[dict[str, Any]]) -> ChatGenerationChunk:
    # Only the first chunk carries them: merging chunks concatenates strings and adds ints.
    if seen:
        chunk.message.response_metadata["modelmesh"] = dict(seen[-1])
    return chunk
