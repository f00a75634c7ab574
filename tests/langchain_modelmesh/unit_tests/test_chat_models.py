"""ChatModelMesh construction and identity; no request leaves the process."""

from __future__ import annotations

from typing import Any

import pytest
import tiktoken
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage

from langchain_modelmesh import ChatModelMesh
from modelmesh import AsyncMeshClient, MeshClient, create, create_async
from modelmesh.upstream.pool import DEFAULT_LIMITS, SyncUpstreamPool, UpstreamPool
from tests.langchain_modelmesh.unit_tests.offline import CONFIG, UNUSED_URL


@pytest.fixture
def openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-unit")
    monkeypatch.setenv("OPENAI_BASE_URL", UNUSED_URL)


@pytest.mark.usefixtures("openai_env")
@pytest.mark.parametrize(
    ("args", "kwargs", "pool"),
    [
        (("chat-completion",), {}, "chat-completion"),
        ((), {"capabilities": ["chat-completion"]}, "chat-completion"),
        ((), {"capabilities": "chat-completion"}, "chat-completion"),
        ((), {"model": "chat-completion"}, "chat-completion"),
        ((), {"pool": "text-generation"}, "text-generation"),
        ((), {"config": CONFIG, "model": "chat-completion"}, "chat-completion"),
        ((), {"capabilities": ["chat-completion"], "strategy": "round-robin"}, "chat-completion"),
    ],
)
def test_model_name_is_the_pool_for_every_way_of_building(
    args: tuple[str, ...], kwargs: dict[str, Any], pool: str
) -> None:
    model = ChatModelMesh(*args, **kwargs)
    assert model.model_name == pool
    assert pool in model.mesh.pools


@pytest.mark.parametrize("make", [create, create_async, lambda **kw: create(**kw).mesh])
def test_an_existing_client_or_mesh_shares_its_mesh_with_both_twins(make: Any) -> None:
    source = make(config=CONFIG)
    mesh = getattr(source, "mesh", source)
    model = ChatModelMesh(mesh_client=source, model="chat-completion")
    assert model.mesh is mesh
    assert isinstance(model.root_client, MeshClient)
    assert isinstance(model.root_async_client, AsyncMeshClient)
    assert model.root_async_client.mesh is mesh
    assert model.client is not None and model.async_client is not None


def test_client_accepts_a_mesh_client_as_an_alias() -> None:
    source = create(config=CONFIG)
    assert ChatModelMesh(client=source, model="chat-completion").mesh is source.mesh


def test_a_mesh_with_one_pool_names_the_model_itself() -> None:
    config = {**CONFIG, "pools": {"chat-completion": {"capability": "chat-completion"}}}
    assert ChatModelMesh(config=config).model_name == "chat-completion"


def test_a_mesh_with_several_pools_needs_the_model_named() -> None:
    with pytest.raises(ValueError, match="several pools"):
        ChatModelMesh(config=CONFIG)


@pytest.mark.parametrize(
    "field", ["http_client", "http_async_client", "root_client", "async_client", "openai_proxy"]
)
def test_own_openai_clients_are_refused_with_a_pointer_to_mesh_client(field: str) -> None:
    with pytest.raises(ValueError, match="mesh_client"):
        ChatModelMesh(config=CONFIG, model="chat-completion", **{field: object()})


def test_mesh_client_and_capabilities_together_are_refused() -> None:
    with pytest.raises(ValueError, match="not both"):
        ChatModelMesh("chat-completion", mesh_client=create(config=CONFIG))


def test_the_responses_api_is_used_only_when_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ChatModelMesh(config=CONFIG, model="chat-completion", use_responses_api=True).use_responses_api
    monkeypatch.setenv("LC_OUTPUT_VERSION", "responses/v1")
    model = ChatModelMesh(config=CONFIG, model="chat-completion", reasoning={"effort": "low"})
    assert model.use_responses_api is False
    assert not model._use_responses_api({"tools": [{"type": "web_search_preview"}]})


def test_usage_is_streamed_by_default_and_can_be_turned_off() -> None:
    assert ChatModelMesh(config=CONFIG, model="chat-completion").stream_usage is True
    assert ChatModelMesh(config=CONFIG, model="chat-completion", stream_usage=False).stream_usage is False


def test_the_sdk_does_not_retry_on_top_of_the_mesh_unless_asked() -> None:
    model = ChatModelMesh(config=CONFIG, model="chat-completion")
    assert model.root_client.max_retries == 0
    assert model.root_async_client.max_retries == 0
    assert ChatModelMesh(config=CONFIG, model="chat-completion", max_retries=2).root_client.max_retries == 2


def test_identity_for_langchain_and_langsmith() -> None:
    model = ChatModelMesh(config=CONFIG, model="chat-completion", temperature=0.5, max_tokens=7)
    assert model._llm_type == "modelmesh-chat"
    assert not ChatModelMesh.is_lc_serializable()
    params = model._get_ls_params(stop=["x"])
    assert params["ls_provider"] == "modelmesh"
    assert params["ls_model_name"] == "chat-completion"
    assert params["ls_temperature"] == 0.5
    assert params["ls_max_tokens"] == 7
    assert params["ls_stop"] == ["x"]


def test_token_counts_never_touch_tiktoken(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(*_: Any, **__: Any) -> Any:
        raise AssertionError("tiktoken would download its encodings")

    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    monkeypatch.setattr(tiktoken, "encoding_for_model", offline)
    model = ChatModelMesh(config=CONFIG, model="chat-completion")
    assert model.get_num_tokens("Hello, world") == 3
    messages = [SystemMessage("Be brief."), HumanMessage("Hi there"), AIMessage("Hello!")]
    assert model.get_num_tokens_from_messages(messages) > model.get_num_tokens("Be brief. Hi there Hello!")


def test_custom_token_counter_wins() -> None:
    model = ChatModelMesh(config=CONFIG, model="chat-completion", custom_get_token_ids=lambda t: [1] * len(t))
    assert model.get_num_tokens("abc") == 3


def test_both_twins_send_through_the_meshs_own_connection_pools() -> None:
    """Not httpx2's default pools: those cap connections at 100 and parse answers with h11."""
    model = ChatModelMesh(config=CONFIG, model="chat-completion")
    sync_pool = model.root_client._client._transport._http._pool
    async_pool = model.root_async_client._client._transport._http._pool
    assert isinstance(sync_pool, SyncUpstreamPool) and isinstance(async_pool, UpstreamPool)
    assert sync_pool.max_connections == async_pool.max_connections == DEFAULT_LIMITS.max_connections
