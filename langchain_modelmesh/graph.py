"""Ready-made LangGraph pieces: a node that writes pool health into graph state, a node that forces a
rotation, and a router that decides between them.

A typical health-aware graph::

    graph = StateGraph(MeshState)
    graph.add_node("status", pool_status_node(client))
    graph.add_node("rotate", rotate_node(client, "chat-completion"))
    graph.add_node("agent", lambda state: {"messages": [llm.invoke(state["messages"])]})
    graph.add_edge(START, "status")
    router = route_on_degraded("chat-completion", rotate="rotate", otherwise="agent")
    graph.add_conditional_edges("status", router, ["rotate", "agent"])
    graph.add_edge("rotate", "agent")
    graph.add_edge("agent", END)

The nodes only read and change the mesh's routing state; they never call a model. Node functions are
synchronous (the mesh's state operations are), which LangGraph runs fine under ``ainvoke`` too.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

from langgraph.graph import MessagesState

from langchain_modelmesh._clients import mesh_of
from langchain_modelmesh.status import describe_pools, needs_rotation, rotate_pool, sole_pool

Node = Callable[[Any], dict[str, Any]]


class MeshState(MessagesState):
    """``MessagesState`` plus the keys the mesh nodes write.

    ``pool_status`` maps pool names to :func:`~langchain_modelmesh.status.describe_pool` dicts (the
    latest check replaces the previous one); ``rotations`` accumulates one record per forced rotation.
    """

    pool_status: dict[str, dict[str, Any]]
    rotations: Annotated[list[dict[str, Any]], operator.add]


def pool_status_node(client: Any, *, pools: Sequence[str] | None = None, key: str = "pool_status") -> Node:
    """A node writing ``{key: {pool: status}}`` for ``pools`` (all pools by default)."""
    mesh = mesh_of(client)
    wanted = list(pools) if pools is not None else None

    def pool_status(state: Any) -> dict[str, Any]:
        return {key: describe_pools(mesh, wanted)}

    return pool_status


def rotate_node(client: Any, pool: str | None = None, *, key: str = "rotations") -> Node:
    """A node forcing ``pool`` to rotate; appends ``{pool, from, to, to_provider, rotated}`` to state[key].

    It also refreshes ``state["pool_status"][pool]`` when the state has that key, so a router after it
    sees the new current model.
    """
    mesh = mesh_of(client)
    name = sole_pool(mesh, pool)

    def rotate(state: Any) -> dict[str, Any]:
        record, after = rotate_pool(mesh, name)
        update: dict[str, Any] = {key: [record]}
        current = _get(state, "pool_status")
        if isinstance(current, Mapping):
            update["pool_status"] = {**current, name: after}
        return update

    return rotate


def route_on_degraded(
    pool: str,
    *,
    rotate: str,
    otherwise: str,
    key: str = "pool_status",
    when: Callable[[Mapping[str, Any]], bool] = needs_rotation,
) -> Callable[[Any], str]:
    """A router for ``add_conditional_edges``: ``rotate`` when ``when(state[key][pool])`` holds.

    The default ``when`` is :func:`~langchain_modelmesh.status.needs_rotation` (the current provider
    has a model on standby and another provider is healthy); pass ``lambda s: s["degraded"]`` to
    rotate on any standby model.
    """

    def route(state: Any) -> str:
        statuses = _get(state, key) or {}
        status = statuses.get(pool) if isinstance(statuses, Mapping) else None
        return rotate if status is not None and when(status) else otherwise

    return route


def _get(state: Any, key: str) -> Any:
    """A state value whether the graph's state is a dict (TypedDict) or an object (dataclass, model)."""
    if isinstance(state, Mapping):
        return state.get(key)
    return getattr(state, key, None)
