"""Agent tools over a mesh: ``get_pool_status`` (read pool health) and ``rotate_model`` (force a rotation).

Plain-argument tools (no injected state or runtime), so they work with ``bind_tools``, LangGraph's
``ToolNode`` and ``langchain.agents.create_agent`` alike, and pass the standard tool tests. Both
answer in JSON text a model can read; a bad pool name comes back as a tool error message listing the
valid pools rather than an exception that would end the agent's run.
"""

from __future__ import annotations

import json
from typing import Any, Literal, Optional

from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator

from langchain_modelmesh._clients import mesh_of
from langchain_modelmesh.status import describe_pool, describe_pools, rotate_pool, sole_pool
from modelmesh.errors import UnknownNameError
from modelmesh.mesh import ModelMesh


class PoolStatusInput(BaseModel):
    pool: str | None = Field(default=None, description="Pool name; omit to get every pool.")


class RotateModelInput(BaseModel):
    pool: str | None = Field(
        default=None, description="Pool to rotate; may be omitted when the mesh has a single pool."
    )


class _MeshTool(BaseTool):
    """A tool bound to one mesh (given as a MeshClient, AsyncMeshClient, ModelMesh or ChatModelMesh)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    mesh: Any = Field(exclude=True)
    default_pool: str | None = None
    """Used when the model names no pool (``mesh_tools(client, pool=...)``)."""
    handle_tool_error: bool | str | Any = True
    handle_validation_error: bool | str | Any = Field(default_factory=lambda: _validation_message)

    @model_validator(mode="after")
    def _offer_the_pool_names(self) -> _MeshTool:
        """Narrow ``pool`` to the mesh's pool names, so a model picks a real one rather than guessing."""
        base = self.args_schema
        if isinstance(base, type) and issubclass(base, BaseModel) and "pool" in base.model_fields:
            names = tuple(sorted(self._mesh().pools))
            described = base.model_fields["pool"].description
            pool_type: Any = Optional[Literal.__getitem__(names)]  # noqa: UP045
            self.args_schema = create_model(
                base.__name__, pool=(pool_type, Field(default=None, description=described))
            )
        return self

    def _mesh(self) -> ModelMesh:
        return mesh_of(self.mesh)

    def _pool(self, pool: str | None) -> str:
        try:
            return sole_pool(self._mesh(), pool or self.default_pool)
        except (UnknownNameError, ValueError) as exc:
            raise ToolException(str(exc)) from None


class PoolStatusTool(_MeshTool):
    """``get_pool_status``: health of one pool or of all, as JSON."""

    name: str = "get_pool_status"
    description: str = (
        "Health of the model pools: for each pool, how many models are active or on standby, the "
        "current model and its provider, and whether the pool is degraded (some model on standby)."
    )
    args_schema: type[BaseModel] = PoolStatusInput

    def _run(self, pool: str | None = None, **_: Any) -> str:
        mesh = self._mesh()
        name = pool or self.default_pool
        if name is None:
            return json.dumps(describe_pools(mesh))
        return json.dumps(describe_pool(mesh.pool_status()[self._pool(name)]))


class RotateModelTool(_MeshTool):
    """``rotate_model``: put the pool's current model on standby and move to the next active one."""

    name: str = "rotate_model"
    description: str = (
        "Force a pool to rotate: its current model goes on standby (until its cooldown ends) and the "
        "next active model takes over. Use it when get_pool_status shows the current provider degraded. "
        "With no other active model the current one is kept (rotated: false)."
    )
    args_schema: type[BaseModel] = RotateModelInput

    def _run(self, pool: str | None = None, **_: Any) -> str:
        record, status = rotate_pool(self._mesh(), self._pool(pool))
        return json.dumps({**record, "active": status["active"]})


def _validation_message(error: Exception) -> str:
    """What the model reads after bad arguments, e.g. "pool: Input should be 'a' or 'b'"."""
    errors = getattr(error, "errors", None)
    if callable(errors):
        return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors())
    return str(error)


def mesh_tools(client: Any, *, pool: str | None = None) -> list[BaseTool]:
    """``[get_pool_status, rotate_model]`` bound to ``client``'s mesh; ``pool`` is their default pool."""
    return [PoolStatusTool(mesh=client, default_pool=pool), RotateModelTool(mesh=client, default_pool=pool)]
