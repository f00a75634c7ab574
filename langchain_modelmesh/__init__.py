"""LangChain and LangGraph integration of ModelMesh.

- :class:`ChatModelMesh`: a LangChain chat model over a mesh pool (langchain-openai's
  ``BaseChatOpenAI`` under the hood, so tools, structured output and streaming work as in ``ChatOpenAI``);
- :class:`ModelMeshEmbeddings`: LangChain ``Embeddings`` over an embeddings pool;
- :func:`mesh_tools`: the ``get_pool_status`` and ``rotate_model`` tools for agents;
- :func:`pool_status_node`, :func:`rotate_node`, :func:`route_on_degraded`, :class:`MeshState`:
  ready-made LangGraph pieces that put pool health into graph state and force a rotation.
"""

from langchain_modelmesh.chat_models import ChatModelMesh
from langchain_modelmesh.embeddings import ModelMeshEmbeddings
from langchain_modelmesh.graph import MeshState, pool_status_node, rotate_node, route_on_degraded
from langchain_modelmesh.status import describe_pool, needs_rotation
from langchain_modelmesh.tools import PoolStatusTool, RotateModelTool, mesh_tools

__all__ = [
    "ChatModelMesh",
    "MeshState",
    "ModelMeshEmbeddings",
    "PoolStatusTool",
    "RotateModelTool",
    "describe_pool",
    "mesh_tools",
    "needs_rotation",
    "pool_status_node",
    "rotate_node",
    "route_on_degraded",
]
