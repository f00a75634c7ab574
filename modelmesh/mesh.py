"""``ModelMesh``: the running router behind a client — pools, providers, state, observability.

It is the environment every ``RoutingRun`` works in, the entry point the transports call with each SDK
request, and the object behind ``client.mesh`` with the extras (pool status, rotation, providers).
Building one from configuration is ``modelmesh.builder``'s job, not this module's.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

from modelmesh.connectors.base import Connector, InboundRequest
from modelmesh.dialects.base import COUNT_TOKENS, DialectError, dialect_for, in_dialect
from modelmesh.errors import UnknownNameError
from modelmesh.events import RequestEvent, RotationEvent, StateEvent
from modelmesh.exchange import inbound_request, local_error, requested_model
from modelmesh.quotas import QuotaBook
from modelmesh.redaction import Redactor
from modelmesh.routing.availability import availability
from modelmesh.routing.policies import StickUntilFailurePolicy
from modelmesh.routing.pool import Pool
from modelmesh.routing.run import Attempt, Exhausted, Observer, RoutingRun
from modelmesh.state.base import StateStore, session_key
from modelmesh.state.memory import MemoryStateStore
from modelmesh.streaming import StreamMonitor
from modelmesh.types import Endpoint, ModelSpec, ProviderEndpoint
from modelmesh.usage import UsageLedger, billable_amounts

# Leaves (by prefix) that make a model eligible for a non-chat endpoint; chat takes every other model.
_ENDPOINT_CAPABILITIES = {
    Endpoint.EMBEDDINGS: ("representation.embeddings.",),
    Endpoint.SPEECH: ("generation.audio-generation.text-to-speech",),
    Endpoint.TRANSCRIPTIONS: ("understanding.audio-understanding.speech-to-text",),
    Endpoint.TRANSLATIONS: ("understanding.audio-understanding.speech-to-text",),
    Endpoint.IMAGES: ("generation.image-generation.",),
}
_SPECIAL = tuple(p for prefixes in _ENDPOINT_CAPABILITIES.values() for p in prefixes)


@dataclass(frozen=True, slots=True)
class ModelStatus:
    model: str  # dotted key
    provider: str
    active: bool
    reason: str | None = None
    back_in_s: float | None = None  # None: active, or manual recovery


@dataclass(frozen=True, slots=True)
class PoolStatus:
    """``client.pool_status()[name]``: health of one pool."""

    name: str
    active: int
    standby: int
    total: int
    current_model: str | None
    strategy: str
    models: list[ModelStatus] = field(default_factory=list)
    state_degraded: bool = False  # the shared store (Redis) is unreachable: routing runs on local state


class ModelMesh:
    def __init__(
        self,
        *,
        pools: dict[str, Pool],
        providers: dict[str, ProviderEndpoint],
        connectors: dict[str, Connector],
        store: StateStore,
        observer: Observer,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        strategies: dict[str, str] | None = None,
        quotas: QuotaBook | None = None,
    ) -> None:
        self.pools = pools
        self.providers = providers
        self._connectors = connectors
        self.store = store
        self.observer = observer
        self.clock = clock
        self.rng = rng or random.Random()
        self.usage = UsageLedger()
        self.quotas = quotas or QuotaBook()
        # Anything but the in-process store does I/O: async callers run routing calls off the loop.
        self.store_blocks = not isinstance(store, MemoryStateStore)
        self._degraded = False
        self._strategies = strategies or {}
        self._views: dict[tuple[str, Endpoint], Pool] = {}
        self._last_model: dict[str, str] = {}
        self._redactor = Redactor.for_endpoints(providers.values())

    # -- the RoutingEnv side -------------------------------------------------------------------------

    def connector_for(self, provider: str) -> Connector:
        return self._connectors[provider]

    def redact(self, data: bytes) -> bytes:
        return self._redactor.redact_bytes(data)

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
        self._watch_store()
        spent = self.quotas.pool_blocked(self.store, pool.name, self.clock()) if self.quotas else None
        if spent is not None:
            retry_after = max(int(spent.back_at - self.clock()) + 1, 1)
            response = local_error(429, f"pool {pool.name!r}: {spent.reason}", "pool_quota_exhausted")
            response.headers["retry-after"] = str(retry_after)
            return in_dialect(inbound.dialect, response)
        header = pool.config.session.header
        raw = inbound.headers.get(header) or (inbound.body or {}).get("user")
        session = session_key(raw) if isinstance(raw, str) and raw else None  # never stored as sent
        return RoutingRun(self, pool, inbound, session, caller_timeout_s=caller_timeout_s(request))

    def request_finished(
        self, run: RoutingRun, attempt: Attempt, body: bytes, usage: dict[str, Any] | None = None
    ) -> None:
        """A whole answer was handed over (``usage`` as read from it by the engine)."""
        self._finish(run, attempt.model, usage, "ok", len(body))

    def _watch_store(self) -> None:
        """Tell observers once when the shared store degrades to local state, and once when it is back."""
        degraded = bool(getattr(self.store, "degraded", False))
        if degraded != self._degraded:
            self._degraded = degraded
            if self.observer.enabled:
                self.observer.emit(StateEvent(degraded=degraded, store=repr(self.store)))

    def stream_finished(
        self, run: RoutingRun, attempt: Attempt, monitor: StreamMonitor, usage: dict[str, Any] | None = None
    ) -> None:
        """A stream ended: complete (billed), or interrupted (reported, not billed: the answer is not whole).

        ``usage`` overrides the monitor's for a stream stitched from several segments."""
        usage = usage if usage is not None else monitor.usage
        if monitor.finished or monitor.done:
            self._finish(run, attempt.model, usage, "ok", len(monitor.partial_text()))
        elif self.observer.enabled:
            self.observer.emit(_request_event(run, "interrupted", attempt.model))

    def request_failed(self, run: RoutingRun, step: Exhausted) -> None:
        if self.observer.enabled:
            error = self.redact(step.message.encode()).decode()
            self.observer.emit(_request_event(run, "failed", None, error=error))

    def request_cancelled(self, run: RoutingRun) -> None:
        if self.observer.enabled:
            self.observer.emit(_request_event(run, "cancelled", run.answered_by))

    def _finish(
        self, run: RoutingRun, model: ModelSpec, usage: dict[str, Any] | None, outcome: str, chars: int = 0
    ) -> None:
        pool = run.pool.owner or run.pool.name  # a request naming a real model books under its pool
        self._last_model[pool] = model.key
        self.usage.record(pool, model, usage)
        if self.quotas:
            amounts = billable_amounts(model, usage, len(run.request.raw), chars)
            self.quotas.count(self.store, run.pool.name, model, amounts, self.clock())
        if self.observer.enabled:
            usage = usage or {}
            tokens = {
                "prompt_tokens": usage.get("prompt_tokens"),
                "completion_tokens": usage.get("completion_tokens"),
            }
            self.observer.emit(_request_event(run, outcome, model, **tokens))

    # -- pools ---------------------------------------------------------------------------------------

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

    def default_timeout_s(self) -> float:
        """The deadline a request gets when its caller sets none: the longest ``total_s`` of the pools."""
        return max((pool.config.timeouts.total_s for pool in self.pools.values()), default=120.0)

    def pool(self, name: str) -> Pool:
        try:
            return self.pools[name]
        except KeyError:
            raise UnknownNameError("pool", name, self.pools) from None

    def list_pools(self) -> list[Pool]:
        return list(self.pools.values())

    def pool_status(self) -> dict[str, PoolStatus]:
        now = self.clock()
        return {name: self._status(pool, now) for name, pool in self.pools.items()}

    def _status(self, pool: Pool, now: float) -> PoolStatus:
        states = self.store.read_models(pool.keys)
        models = []
        for model in pool.models:
            provider = self.store.read_provider(model.provider)
            why = availability(model, states[model.key], provider, now, self.quotas or None, self.store)
            if why is None or why.cause == "backoff":
                models.append(ModelStatus(model.key, model.provider, True))
                continue
            until = why.back_at
            back = None if until is None or math.isinf(until) else round(max(until - now, 0.0), 1)
            models.append(ModelStatus(model.key, model.provider, False, why.reason, back))
        active = sum(1 for m in models if m.active)
        return PoolStatus(
            pool.name,
            active,
            len(models) - active,
            len(models),
            self._current(pool, now),
            self._strategies.get(pool.name, type(pool.policy).__name__),
            models,
            bool(getattr(self.store, "degraded", False)),
        )

    def _current(self, pool: Pool, now: float) -> str | None:
        """The model the pool's next request goes to: the stuck one for a sticking strategy (``rotate()``
        moves it), else the one that answered last (cost-first, round-robin... keep no current)."""
        if isinstance(pool.policy, StickUntilFailurePolicy):
            key = self.store.read_pool(pool.name).current or self._last_model.get(pool.name)
        else:
            key = self._last_model.get(pool.name) or self.store.read_pool(pool.name).current
        candidates = [m for m in pool.models if self._is_active(m, now)]
        model = next((m for m in candidates if m.key == key), candidates[0] if candidates else None)
        return model.id if model else None

    def _is_active(self, model: ModelSpec, now: float) -> bool:
        state = self.store.read_models([model.key])[model.key]
        why = availability(model, state, self.store.read_provider(model.provider), now)
        return why is None or not why.is_deactivated

    def active_providers(self) -> list[str]:
        now = self.clock()
        names: list[str] = []
        for pool in self.pools.values():
            for model in pool.models:
                if model.provider not in names and self._is_active(model, now):
                    names.append(model.provider)
        return names

    def rotate(self, pool_name: str) -> str | None:
        """Move the pool's current model to standby and select the next active one; returns its id.

        With no other active model the current one is kept and returned (a warning on the ``modelmesh``
        logger and ``rotated: False`` in the event say so): a forced rotation never empties a pool.
        """
        pool = self.pool(pool_name)
        now = self.clock()
        current_id = self._current(pool, now)
        current = next((m for m in pool.models if m.id == current_id), None)
        start = pool.index_of(current.key) + 1 if current else 0
        ordered = pool.models[start:] + pool.models[:start]
        chosen = next((m for m in ordered if m is not current and self._is_active(m, now)), current)
        note = None
        if chosen is current:
            kept = f"; kept {current.id}" if current else ""
            note = f"no {'other ' if current else ''}active model in pool {pool.name!r}{kept}"
            logging.getLogger("modelmesh.rotation").warning("rotate(%r): %s", pool.name, note)
        elif current is not None:
            cooldown = pool.config.recovery.cooldown_s
            until = math.inf if pool.config.recovery.mode == "manual" else now + cooldown

            def standby(state: Any) -> None:
                state.standby_until, state.standby_reason = until, "manual rotation"

            self.store.update_model(current.key, standby)
        self.store.update_pool(pool.name, lambda s: setattr(s, "current", chosen.key if chosen else None))
        if self.observer.enabled:
            self.observer.emit(
                RotationEvent(
                    pool=pool.name,
                    from_=current.key if current else None,
                    to=chosen.key if chosen else None,
                    reason="manual",
                    rotated=note is None,
                    note=note,
                )
            )
        return chosen.id if chosen else None

    def models(self) -> list[ModelSpec]:
        seen: dict[str, ModelSpec] = {}
        for pool in self.pools.values():
            for model in pool.models:
                seen.setdefault(model.key, model)
        return list(seen.values())

    # -- local answers -------------------------------------------------------------------------------

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

    def close(self) -> None:
        self.store.close()
        close = getattr(self.observer, "close", None)
        if close is not None:
            close()

    def __repr__(self) -> str:
        return f"ModelMesh(pools={sorted(self.pools)}, providers={sorted(self.providers)})"


def _request_event(run: RoutingRun, outcome: str, model: ModelSpec | None, **extra: Any) -> RequestEvent:
    return RequestEvent(
        pool=run.pool.name,
        model=model.id if model else None,
        provider=model.provider if model else None,
        outcome=outcome,
        attempts=len(run.records),
        failovers=run.failovers,
        request_id=run.request_id,
        endpoint=run.request.endpoint.value,
        started_at=run.started_at,
        **extra,
    )


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
