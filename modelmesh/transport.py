"""The routing transports under the OpenAI SDK, at the import path users and ``modelmesh serve`` know.

They live in ``modelmesh.engine.drivers``; the request flow they run is ``modelmesh.engine.flow``.
"""

from modelmesh.engine.drivers import AsyncMeshTransport, MeshTransport
from modelmesh.upstream.pool import shared_ssl_context

__all__ = ["AsyncMeshTransport", "MeshTransport", "shared_ssl_context"]
