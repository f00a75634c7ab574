"""LangGraph end to end against fakes: a health-aware StateGraph, ToolNode and create_agent.

The graph story (also the worked example in docs/langchain.md): the primary provider has an outage;
one request already failed over, so one of its models is on standby while the pool's current model
is its other model. The status node sees the standby, the router sends the graph to the rotate node,
and the agent's answer comes from the backup provider at the first attempt, without a wasted attempt
on the primary.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import HumanMessage, ToolMessage
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition

from langchain_modelmesh import (
    ChatModelMesh,
    MeshState,
    mesh_tools,
    pool_status_node,
    rotate_node,
    route_on_degraded,
)
from modelmesh.testing import Fault, Reply, ToolCall
from tests.langchain_modelmesh.conftest import LangChainFakes

POOL = "chat-completion"


@pytest.fixture
async def llm(failover_config: dict[str, Any]) -> AsyncIterator[ChatModelMesh]:
    model = ChatModelMesh(config=failover_config, model=POOL)
    yield model
    await model.aclose()


def health_aware_graph(llm: ChatModelMesh) -> CompiledStateGraph[Any, Any, Any, Any]:
    graph = StateGraph(MeshState)
    graph.add_node("status", pool_status_node(llm, pools=[POOL]))
    graph.add_node("rotate", rotate_node(llm, POOL))
    graph.add_node("agent", lambda state: {"messages": [llm.invoke(state["messages"])]})
    graph.add_edge(START, "status")
    router = route_on_degraded(POOL, rotate="rotate", otherwise="agent")
    graph.add_conditional_edges("status", router, ["rotate", "agent"])
    graph.add_edge("rotate", "agent")
    graph.add_edge("agent", END)
    return graph.compile()


@pytest.mark.parametrize("use_async", [False, True])
async def test_status_node_sees_standby_rotate_node_moves_to_the_other_provider(
    llm: ChatModelMesh, lc_fakes: LangChainFakes, use_async: bool
) -> None:
    lc_fakes.primary.set_outage(Fault.status(503))
    warm_up = llm.invoke("warm-up")  # gpt-4o fails and goes on standby; the backup answers
    assert warm_up.response_metadata["modelmesh"]["failovers"] == 1
    primary_calls = lc_fakes.primary.calls()

    graph = health_aware_graph(llm)
    state = {"messages": [HumanMessage("Which model answers?")]}
    result = await graph.ainvoke(state) if use_async else graph.invoke(state)

    status = result["pool_status"][POOL]
    assert (status["standby"], status["current_model"], status["current_provider"]) == (
        2,
        "backup-large",
        "backup",
    )
    assert result["rotations"] == [
        {"pool": POOL, "from": "gpt-4o-mini", "to": "backup-large", "to_provider": "backup", "rotated": True}
    ]
    answer = result["messages"][-1]
    assert answer.response_metadata["model_name"] == "backup-large"
    assert answer.response_metadata["modelmesh"] == {
        "pool": POOL,
        "provider": "backup",
        "attempts": 1,
        "failovers": 0,
    }
    assert lc_fakes.primary.calls() == primary_calls  # the rotation saved an attempt on the outage


def test_a_healthy_pool_goes_straight_to_the_agent(llm: ChatModelMesh, lc_fakes: LangChainFakes) -> None:
    result = health_aware_graph(llm).invoke({"messages": [HumanMessage("hi")]})
    assert not result.get("rotations")
    assert result["pool_status"][POOL]["degraded"] is False
    assert result["messages"][-1].response_metadata["model_name"] == "gpt-4o"


def test_bound_tools_and_tool_node_in_a_react_loop(llm: ChatModelMesh, lc_fakes: LangChainFakes) -> None:
    tools = mesh_tools(llm)
    bound = llm.bind_tools(tools)
    graph = StateGraph(MessagesState)
    graph.add_node("agent", lambda state: {"messages": [bound.invoke(state["messages"])]})
    graph.add_node("tools", ToolNode(tools))
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition)
    graph.add_edge("tools", "agent")
    result = graph.compile().invoke({"messages": [HumanMessage("How are the pools?")]})
    call, tool_message, answer = result["messages"][1:]
    assert call.tool_calls[0]["name"] == "get_pool_status"  # the fake calls the first tool offered
    assert call.tool_calls[0]["args"] == {"pool": POOL}  # the schema offers only real pool names
    assert json.loads(tool_message.content)["current_model"] == "gpt-4o"
    assert answer.content.startswith("The tool returned:")


def _agent_responder(request: dict[str, Any], model: str) -> Reply:
    """A model that checks the pool, rotates it, then reports which model it is."""
    last = request["messages"][-1]
    if last["role"] == "user":
        return Reply(tool_calls=[ToolCall("get_pool_status", {"pool": POOL})])
    if last["role"] == "tool" and '"current_model"' in str(last["content"]):
        return Reply(tool_calls=[ToolCall("rotate_model", {"pool": POOL})])
    return Reply(text=f"Rotated; this answer comes from {model}.")


@pytest.fixture
def agent_fakes(lc_fakes: LangChainFakes) -> Iterator[LangChainFakes]:
    lc_fakes.primary.responder = lc_fakes.backup.responder = _agent_responder
    yield lc_fakes
    lc_fakes.primary.responder = lc_fakes.backup.responder = None


@pytest.mark.parametrize("use_async", [False, True])
async def test_create_agent_checks_the_pool_and_rotates(
    llm: ChatModelMesh, agent_fakes: LangChainFakes, use_async: bool
) -> None:
    agent = create_agent(llm, tools=mesh_tools(llm))
    state = {"messages": [HumanMessage("Check the pool and rotate it.")]}
    result = await agent.ainvoke(state) if use_async else agent.invoke(state)
    tool_messages = [m for m in result["messages"] if isinstance(m, ToolMessage)]
    assert [m.name for m in tool_messages] == ["get_pool_status", "rotate_model"]
    final = result["messages"][-1]
    assert final.content == "Rotated; this answer comes from gpt-4o-mini."
    assert llm.pool_status().current_model == "gpt-4o-mini"
