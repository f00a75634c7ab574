"""``MeshEntry``: where an SDK request enters the mesh — a routing run, or an answer given locally.

Parses what the SDK (or a client dialect) sent, finds the pool the ``model`` names (or a one-model pool
for a real model id), narrows it to the models that serve the endpoint, refuses what cannot be routed
(an unknown model or URL, a spent pool budget) in the caller's dialect, and starts a ``RoutingRun`` in
the mesh's environment with the caller's deadline and hashed session id. Model listing is answered here.
"""

from __future__ import annotations

import json
from typing import Any

import httpx2

from modelmesh.connectors.base import InboundRequest
from modelmesh.dialects.base import DialectError, in_dialect
from modelmesh.dialects.lookup import COUNT_TOKENS, dialect_for
from modelmesh.mesh.environment import MeshEnvironment
from modelmesh.mesh.inbound import inbound_request, local_error, requested_model
from modelmesh.routing.pool import Pool
from modelmesh.routing.run import RoutingRun
from modelmesh.state.base import session_key
from modelmesh.types import Endpoint, ModelSpec

# Leaves (by prefix) that make a model eligible for a non-chat endpoint; chat takes every other model.
_ENDPOINT_CAPABILITIES = {
    Endpoint.EMBEDDINGS: ("representation.embeddings.",),
    Endpoint.SPEECH: ("generation.audio-generation.text-to-speech",),
    Endpoint.TRANSCRIPTIONS: ("understanding.audio-understanding.speech-to-text",),
    Endpoint.TRANSLATIONS: ("understanding.audio-understanding.speech-to-text",),
    Endpoint.IMAGES: ("generation.image-generation.",),
}
_SPECIAL = tuple(p for prefixes in _ENDPOINT_CAPABILITIES.values() for p in prefixes)


class MeshEntry:
    def __init__(self, pools: dict[str, Pool], env: MeshEnvironment) -> None:
        self.pools = pools
        self.env = env
        self._views: dict[tuple[str, Endpoint], Pool] = {}

    def begin(self, request: httpx2.Request) -> RoutingRun | httpx2.Response:
        """Start routing one SDK request, or answer it locally (model listing, unknown pool)."""
        try:
            inbound = inbound_request(request)
        except DialectError as exc:
            return in_dialect(exc.dialect, httpx2.Response(400, content=exc.openai_body()))
        if inbound is None:
            return self._local(request)
        name = requested_model(inbound)
        pool = self._view(name, inbound.endpoint) if name else None
        if pool is None:
            return in_dialect(inbound.dialect, self._unknown_model(name, inbound))
        if not pool.models:
            message = (
                f"pool {pool.name!r} serves {pool.capability!r} and has no model for the "
                f"{inbound.endpoint.value} endpoint. Pools: {', '.join(sorted(self.pools))}."
            )
            return in_dialect(inbound.dialect, local_error(400, message, "endpoint_not_served", "model"))
        self.env.watch_store()
        spent = (
            self.env.quotas.pool_blocked(self.env.store, pool.name, self.env.clock())
            if self.env.quotas
            else None
        )
        if spent is not None:
            retry_after = max(int(spent.back_at - self.env.clock()) + 1, 1)
            response = local_error(429, f"pool {pool.name!r}: {spent.reason}", "pool_quota_exhausted")
            response.headers["retry-after"] = str(retry_after)
            return in_dialect(inbound.dialect, response)
        header = pool.config.session.header
        raw = inbound.headers.get(header) or (inbound.body or {}).get("user")
        session = session_key(raw) if isinstance(raw, str) and raw else None  # never stored as sent
        return RoutingRun(self.env, pool, inbound, session, caller_timeout_s=caller_timeout_s(request))

    def _view(self, name: str, endpoint: Endpoint) -> Pool | None:
        """The pool ``name`` restricted to models that serve ``endpoint`` (cached)."""
        view = self._views.get((name, endpoint))
        if view is not None:
            return view
        pool = self.pools.get(name) or self._direct(name)
        if pool is None:
            return None
        prefixes = _ENDPOINT_CAPABILITIES.get(endpoint)
        if prefixes is None:
            members = [m for m in pool.models if any(not c.startswith(_SPECIAL) for c in m.capabilities)]
        else:
            members = [m for m in pool.models if any(c.startswith(prefixes) for c in m.capabilities)]
        view = Pool(pool.name, pool.capability, members, pool.config, pool.policy, owner=pool.owner)
        self._views[(name, endpoint)] = view
        return view

    def _direct(self, name: str) -> Pool | None:
        """A one-model pool for a request that names a real model (``gpt-4o`` or ``openai.gpt-4o``)."""
        for pool in self.pools.values():
            for model in pool.models:
                if name in (model.id, model.key):
                    return Pool(
                        model.key, pool.capability, [model], pool.config, pool.policy, owner=pool.name
                    )
        return None

    def models(self) -> list[ModelSpec]:
        seen: dict[str, ModelSpec] = {}
        for pool in self.pools.values():
            for model in pool.models:
                seen.setdefault(model.key, model)
        return list(seen.values())

    def _local(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path.rstrip("/")
        if request.method == "GET" and path.endswith("/models"):
            return httpx2.Response(
                200, json={"object": "list", "data": [_model_card(m) for m in self.models()]}
            )
        if request.method == "GET" and "/models/" in path:
            wanted = path.rsplit("/models/", 1)[1]
            for model in self.models():
                if wanted in (model.id, model.key):
                    return httpx2.Response(200, json=_model_card(model))
            return local_error(404, f"The model {wanted!r} is not in any pool.", "model_not_found")
        if request.method == "POST" and path.endswith(COUNT_TOKENS):
            return _count_tokens(request)
        routed = ", ".join([*(f"/v1/{e.value}" for e in Endpoint), "/v1/responses", "/v1/messages"])
        return in_dialect(
            dialect_for(path),
            local_error(
                404,
                f"ModelMesh does not route {request.method} {path}. Routed: {routed}, /v1/models.",
                "unknown_url",
            ),
        )

    def _unknown_model(self, name: str | None, inbound: InboundRequest) -> httpx2.Response:
        pools = ", ".join(sorted(self.pools)) or "(none)"
        message = (
            f"Unknown model {name!r}: ModelMesh routes by pool name (or a real model id in a pool). "
            f"Valid pools: {pools}."
        )
        return local_error(404, message, "model_not_found", "model")


def caller_timeout_s(request: httpx2.Request) -> float | None:
    """The caller's timeout for the whole request (the SDK's ``timeout=``, as httpx2 carries it).

    httpx2 splits a timeout into phases; the caller meant one budget, so the longest phase is taken."""
    timeout = request.extensions.get("timeout")
    if not isinstance(timeout, dict):
        return None
    phases = [value for value in timeout.values() if isinstance(value, int | float)]
    return float(max(phases)) if phases else None


def _count_tokens(request: httpx2.Request) -> httpx2.Response:
    """``/v1/messages/count_tokens``: a local estimate (see ``dialects.messages.count_tokens``)."""
    from modelmesh.dialects.messages import count_tokens, error_body

    try:
        body = json.loads(request.content or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return httpx2.Response(400, content=error_body(400, "The request body must be a JSON object."))
    return httpx2.Response(200, json=count_tokens(body))


def _model_card(model: ModelSpec) -> dict[str, Any]:
    return {"id": model.id, "object": "model", "created": 0, "owned_by": model.provider}
