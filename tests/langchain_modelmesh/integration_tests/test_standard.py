"""langchain-tests' standard integration suites, run against the local fake providers.

Disabled (by ``conftest.py``, since the suites forbid overriding their tests): the six multimodal tests
that download their inputs from the internet and the one that replays a VCR cassette, each with its
reason. Everything else runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langchain_tests.integration_tests import (
    ChatModelIntegrationTests,
    EmbeddingsIntegrationTests,
    ToolsIntegrationTests,
)

from langchain_modelmesh import ChatModelMesh, ModelMeshEmbeddings, PoolStatusTool, RotateModelTool
from modelmesh import create

# langchain-openai dumps the SDK's parsed stream chunks, whose `parsed` field pydantic types as None.
pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")


class TestChatModelMeshStandard(ChatModelIntegrationTests):
    mesh_config: dict[str, Any] = {}

    @pytest.fixture(autouse=True)
    def _fakes(self, config: dict[str, Any]) -> None:
        type(self).mesh_config = config

    @pytest.fixture
    async def model(self, request: Any) -> AsyncIterator[BaseChatModel]:
        """The suite's model fixture, closed in the test's own event loop (its async connections
        belong to that loop and would otherwise be collected, unclosed, during a later test)."""
        extra = getattr(request, "param", None) or {}
        model = ChatModelMesh(**{**self.standard_chat_model_params, **self.chat_model_params, **extra})
        yield model
        await model.aclose()

    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatModelMesh

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"config": self.mesh_config, "model": "chat-completion"}

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "gpt-4o-mini"  # a real model id in the pool: the mesh routes it directly


class TestModelMeshEmbeddingsStandard(EmbeddingsIntegrationTests):
    mesh_config: dict[str, Any] = {}

    @pytest.fixture(autouse=True)
    def _fakes(self, config: dict[str, Any]) -> None:
        type(self).mesh_config = config

    @pytest.fixture
    async def model(self) -> AsyncIterator[Embeddings]:
        model = ModelMeshEmbeddings(**self.embedding_model_params)
        yield model
        await model.aclose()

    @property
    def embeddings_class(self) -> type[Embeddings]:
        return ModelMeshEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"config": self.mesh_config, "model": "text-embeddings"}


class _MeshToolStandard(ToolsIntegrationTests):
    mesh_config: dict[str, Any] = {}

    @pytest.fixture(autouse=True)
    def _fakes(self, config: dict[str, Any]) -> None:
        type(self).mesh_config = config

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"mesh": create(config=self.mesh_config)}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"pool": "chat-completion"}


class TestPoolStatusToolStandard(_MeshToolStandard):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return PoolStatusTool


class TestRotateModelToolStandard(_MeshToolStandard):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return RotateModelTool
