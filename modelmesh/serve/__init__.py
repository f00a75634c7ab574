"""``modelmesh serve``: an OpenAI-compatible HTTP proxy in front of one ``ModelMesh``, for any language.

The package owns the HTTP edge only, one job per module: ``settings`` (operator settings and their
validation), ``auth`` (proxy keys), ``limits`` (body size, read deadline, JSON checks), ``models``
(pools listed as models), ``relay`` (headers and error text that reach clients), ``health``,
``metrics`` (Prometheus), ``edge`` (access log and metrics per request), ``app`` (the ASGI app),
``runner`` (uvicorn, timeouts, graceful drain), ``workers`` (what each ``--workers`` process builds) and
``status_page`` (``/ui``). Routing stays in ``AsyncMeshTransport``; the client dialects' routes
(``/v1/responses``, ``/v1/messages``) translate through ``modelmesh.dialects``.

Starlette and uvicorn are imported by this package; ``import modelmesh`` imports neither (nothing in
the core imports this package eagerly).
"""

from modelmesh.serve.app import create_app, mesh_request
from modelmesh.serve.health import health_summary
from modelmesh.serve.relay import RELAYED_HEADERS, RELAYED_PREFIXES, RelayResponse
from modelmesh.serve.runner import serve
from modelmesh.serve.settings import DEFAULT_HOST, DEFAULT_PORT, KEY_ENV, ProxySettings

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "KEY_ENV",
    "RELAYED_HEADERS",
    "RELAYED_PREFIXES",
    "ProxySettings",
    "RelayResponse",
    "create_app",
    "health_summary",
    "mesh_request",
    "serve",
]
