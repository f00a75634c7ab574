"""The pool tools, the status description and the rotation judgement; no request is sent."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.utils.function_calling import convert_to_openai_tool
from syrupy.assertion import SnapshotAssertion

from langchain_modelmesh import (
    ChatModelMesh,
    PoolStatusTool,
    RotateModelTool,
    describe_pool,
    mesh_tools,
    needs_rotation,
    rotate_node,
)
from modelmesh import create, create_async
from tests.langchain_modelmesh.unit_tests.offline import CONFIG


def test_tool_schemas_are_what_a_model_is_shown(snapshot: SnapshotAssertion) -> None:
    tools = mesh_tools(create(config=CONFIG))
    assert [convert_to_openai_tool(t) for t in tools] == snapshot


def test_describe_pool_shape(snapshot: SnapshotAssertion) -> None:
    assert describe_pool(create(config=CONFIG).pool_status()["chat-completion"]) == snapshot


@pytest.mark.parametrize(
    "make",
    [
        lambda: create(config=CONFIG),
        lambda: create_async(config=CONFIG),
        lambda: create(config=CONFIG).mesh,
        lambda: ChatModelMesh(config=CONFIG, model="chat-completion"),
    ],
)
def test_tools_accept_any_holder_of_a_mesh(make: Any) -> None:
    status, _ = mesh_tools(make())
    assert set(json.loads(status.invoke({}))) == {"chat-completion", "text-embeddings"}


def test_rotate_model_moves_to_the_next_active_model() -> None:
    client = create(config=CONFIG)
    rotated = json.loads(RotateModelTool(mesh=client).invoke({"pool": "chat-completion"}))
    assert rotated == {
        "pool": "chat-completion",
        "from": "gpt-4o",
        "to": "gpt-4o-mini",
        "to_provider": "openai",
        "active": 1,
        "rotated": True,
    }
    status = json.loads(PoolStatusTool(mesh=client).invoke({"pool": "chat-completion"}))
    assert status["current_model"] == "gpt-4o-mini"
    assert status["standby"] == 1
    assert status["degraded"] is True


def test_rotate_model_with_no_other_active_model_keeps_it_and_reports_so() -> None:
    client = create(config=CONFIG)
    rotate = RotateModelTool(mesh=client)
    assert json.loads(rotate.invoke({"pool": "chat-completion"}))["rotated"] is True
    kept = json.loads(rotate.invoke({"pool": "chat-completion"}))
    assert kept["from"] == kept["to"] == "gpt-4o-mini" and kept["rotated"] is False
    assert "no other active model" in kept["note"] and kept["active"] == 1
    assert client.pool_status()["chat-completion"].current_model == "gpt-4o-mini"


def test_rotate_node_records_a_kept_model() -> None:
    client = create(config=CONFIG)
    node = rotate_node(client, "chat-completion")
    node({})
    (record,) = node({})["rotations"]
    assert record["to"] == "gpt-4o-mini" and record["rotated"] is False and "note" in record


def test_default_pool_is_used_when_the_model_names_none() -> None:
    status, rotate = mesh_tools(create(config=CONFIG), pool="chat-completion")
    assert json.loads(status.invoke({}))["pool"] == "chat-completion"
    assert json.loads(rotate.invoke({}))["pool"] == "chat-completion"


@pytest.mark.parametrize("args", [{"pool": "nope"}, {}])
def test_a_bad_or_missing_pool_comes_back_as_a_tool_error_not_an_exception(args: dict[str, Any]) -> None:
    _, rotate = mesh_tools(create(config=CONFIG))
    message = rotate.invoke({"type": "tool_call", "id": "1", "name": "rotate_model", "args": args})
    assert message.status == "error"
    assert "chat-completion" in message.content  # the valid pools are listed


def _pool(*models: tuple[str, bool], current: str | None) -> dict[str, Any]:
    return {
        "current_provider": current,
        "models": [{"provider": p, "active": a} for p, a in models],
    }


@pytest.mark.parametrize(
    ("pool", "expected"),
    [
        (_pool(("a", True), ("a", True), ("b", True), current="a"), False),  # healthy
        (_pool(("a", False), ("a", True), ("b", True), current="a"), True),  # current provider hurt
        (_pool(("a", False), ("a", True), ("b", True), current="b"), False),  # already elsewhere
        (_pool(("a", False), ("a", True), ("b", False), current="a"), False),  # nowhere better to go
        (_pool(("a", False), current=None), False),  # nothing active
    ],
)
def test_needs_rotation_only_when_the_current_provider_is_hurt_and_another_is_healthy(
    pool: dict[str, Any], expected: bool
) -> None:
    assert needs_rotation(pool) is expected
