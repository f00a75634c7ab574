"""langchain-tests' standard unit suites: construction, parameters and tool schemas, no requests made.

The models point at a provider address that is never contacted (``UNUSED_URL``). ``test_serdes`` is
skipped by the suite itself because ``ChatModelMesh.is_lc_serializable()`` is False: a model holding
a live mesh cannot be rebuilt from JSON, and langchain-core would not load this namespace anyway.
"""

from __future__ import annotations

from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.tools import BaseTool
from langchain_tests.unit_tests import ChatModelUnitTests, EmbeddingsUnitTests, ToolsUnitTests

from langchain_modelmesh import ChatModelMesh, ModelMeshEmbeddings, PoolStatusTool, RotateModelTool
from modelmesh import create
from tests.langchain_modelmesh.unit_tests.offline import CONFIG, UNUSED_URL


class TestChatModelMeshUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[BaseChatModel]:
        return ChatModelMesh

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"config": CONFIG, "model": "chat-completion"}

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "gpt-4o-mini"

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        # create("chat-completion") detects providers from the environment; the pool names the model.
        env = {"OPENAI_API_KEY": "sk-from-env", "OPENAI_BASE_URL": UNUSED_URL}
        return env, {"capabilities": ["chat-completion"]}, {"model_name": "chat-completion"}


class TestModelMeshEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[Embeddings]:
        return ModelMeshEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"config": CONFIG, "model": "text-embeddings"}

    @property
    def init_from_env_params(self) -> tuple[dict[str, str], dict[str, Any], dict[str, Any]]:
        env = {"OPENAI_API_KEY": "sk-from-env", "OPENAI_BASE_URL": UNUSED_URL}
        return env, {"capabilities": ["text-embeddings"]}, {"model": "text-embeddings"}


class TestPoolStatusToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return PoolStatusTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"mesh": create(config=CONFIG)}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"pool": "chat-completion"}


class TestRotateModelToolUnit(ToolsUnitTests):
    @property
    def tool_constructor(self) -> type[BaseTool]:
        return RotateModelTool

    @property
    def tool_constructor_params(self) -> dict[str, Any]:
        return {"mesh": create(config=CONFIG)}

    @property
    def tool_invoke_params_example(self) -> dict[str, Any]:
        return {"pool": "chat-completion"}
