"""One request's routing as a pure state machine, driven by the sync and async transports alike.

The driver asks ``next_step()`` and gets an ``Attempt`` (send this), a ``Wait`` (sleep this long) or an
``Exhausted`` (stop; answer the caller with this). It reports each attempt with ``succeeded``,
``failed`` or ``unsupported``. All decisions live here, once: candidate filtering, policy order, retry on
the same model, failover, deactivation, provider suspicion, panic mode, the overall deadline (the pool's
``total_s`` or the caller's timeout, whichever is sooner). No I/O, no real clock, no global RNG.
"""

from __future__ import annotations

__all__ = [
    "Attempt",
    "AttemptRecord",
    "Exhausted",
    "Observer",
    "RoutingEnv",
    "RoutingRun",
    "StreamOutcome",
    "Wait",
]

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from modelmesh.connectors.base import Connector, Failure, FailureKind, InboundRequest
from modelmesh.events import (
    AttemptEvent,
    ContinuationEvent,
    DeactivationEvent,
    DecisionEvent,
    Event,
    FailoverEvent,
    PanicEvent,
    PrefillRejectedEvent,
    ProbeEvent,
    SuspicionEvent,
    new_request_id,
)
from modelmesh.quotas import QuotaBook
from modelmesh.routing import health
from modelmesh.routing.availability import availability
from modelmesh.routing.continuation import PREFILL, continuation_request
from modelmesh.routing.failures import deadline_failure, no_model_failure, with_attempts
from modelmesh.routing.pool import ModelStates, Pool, SelectionContext
from modelmesh.routing.requirements import Requirements, requirements_of
from modelmesh.routing.retry import backoff_s
from modelmesh.routing.steps import Attempt, AttemptRecord, Exhausted, Observer, StreamOutcome, Wait
from modelmesh.state.base import StateStore, read_snapshot
from modelmesh.types import ModelSpec, ProviderEndpoint


class RoutingEnv(Protocol):
    """What a run needs from the mesh around it."""

    store: StateStore
    providers: dict[str, ProviderEndpoint]
    observer: Observer
    clock: Callable[[], float]
    rng: random.Random
    quotas: QuotaBook
    store_blocks: bool  # the store does blocking I/O (SQLite, Redis): async drivers call it off the loop

    def connector_for(self, provider: str) -> Connector: ...

    def redact(self, data: bytes) -> bytes: ...

    def request_finished(
        self, run: RoutingRun, attempt: Attempt, body: bytes, usage: dict[str, Any] | None = None
    ) -> None:
        """A whole answer reached the caller."""
        ...

    def stream_finished(
        self, run: RoutingRun, attempt: Attempt, monitor: StreamOutcome, usage: dict[str, Any] | None = None
    ) -> None: ...

    def request_failed(self, run: RoutingRun, step: Exhausted) -> None: ...

    def request_cancelled(self, run: RoutingRun) -> None: ...


@dataclass(slots=True)
class RoutingRun:
    env: RoutingEnv
    pool: Pool
    request: InboundRequest
    session_id: str | None = None
    caller_timeout_s: float | None = None  # the SDK's timeout for the whole request, when given
    request_id: str = field(default_factory=new_request_id)  # ties this request's events together
    started_at: float = 0.0
    requirements: Requirements = field(init=False)
    records: list[AttemptRecord] = field(default_factory=list)
    answered_by: ModelSpec | None = None
    _deadline: float = 0.0
    _queue: list[ModelSpec] | None = None
    _current: ModelSpec | None = None
    _tries: int = 0
    _wait: float = 0.0
    _last: Failure | None = None
    _final: Exhausted | None = None
    _unmet: dict[str, str] = field(default_factory=dict)
    _quota: dict[str, tuple[str, float]] = field(default_factory=dict)  # model key -> (reason, back at)
    _original: InboundRequest | None = None
    _segment_start: int = 0  # records before this belong to earlier stream segments
    _broken: str | None = None  # the model whose stream broke last: tried last for the continuation
    _suspects: set[str] = field(default_factory=set)  # providers whose endpoint failed in this request
    _panic: bool = False  # every usable model is benched for failures: tried anyway, best record first
    _caller_deadline: float = float("inf")
    _ctx: SelectionContext | None = None  # the health view the last choice was made on
    _probing: str | None = None  # the half-open model whose probe lease this run holds
    continuations: int = 0

    def __post_init__(self) -> None:
        self.requirements = requirements_of(self.request)
        now = self.started_at = self.env.clock()
        if self.caller_timeout_s is not None:
            self._caller_deadline = now + self.caller_timeout_s
        self._deadline = min(now + self.pool.config.timeouts.total_s, self._caller_deadline)
        self._original = self.request

    @property
    def wants_usage(self) -> bool:
        options = (self.request.body or {}).get("stream_options")
        return bool(isinstance(options, dict) and options.get("include_usage"))

    @property
    def failovers(self) -> int:
        return len({r.model for r in self.records}) - 1 if self.records else 0

    def next_step(self) -> Attempt | Wait | Exhausted:
        if self._final is not None:
            return self._final
        if self._wait:
            wait, self._wait = self._wait, 0.0
            return Wait(wait)
        now = self.env.clock()
        if now >= self._deadline:
            return self._exhaust(self._last or deadline_failure(self.pool))
        if self._current is None:
            self._current = self._choose(now)
            self._tries = 0
            if self._current is None:
                return self._exhaust(
                    self._last or no_model_failure(self.pool, self.env.store, self._unmet, self._quota, now)
                )
        self._tries += 1
        return self._attempt(self._current, now)

    def succeeded(self, attempt: Attempt, headers: Mapping[str, str]) -> None:
        now = self.env.clock()
        latency = now - attempt.started_at
        self.records.append(
            AttemptRecord(attempt.model.key, attempt.provider.name, "ok", 200, latency * 1000)
        )
        self.env.store.update_model(attempt.model.key, lambda s: health.record_success(s, latency, headers))
        if self.env.quotas:
            self.env.quotas.count(self.env.store, self.pool.name, attempt.model, {"requests": 1}, now)
        self.pool.policy.on_success(self._ctx or self._context(now), attempt.model)
        self.answered_by = attempt.model
        self.pool.last_choice = attempt.model.key
        self._emit_attempt(attempt, "ok", 200, latency)

    def cancelled(self) -> None:
        """The caller went away mid-run: give back a recovery probe this run holds (another request may
        probe at once instead of after the lease) and report the request as cancelled."""
        if self._probing is not None:
            self.env.store.update_model(self._probing, health.release_probe)
        self.env.request_cancelled(self)

    def unsupported(self, attempt: Attempt, reason: str) -> None:
        """The model's dialect cannot express this request: skip it, with no mark on its health."""
        self._unmet[attempt.model.key] = reason
        self._current = None

    def failed(self, attempt: Attempt, failure: Failure) -> None:
        now = self.env.clock()
        failure = self._redacted(failure, attempt)
        if not failure.blames_provider:
            self._record(attempt, failure, now)  # our own limit: no health change, try elsewhere
            self._current = None
            return
        if self.continuations and failure.kind is FailureKind.BAD_REQUEST:
            # A model that rejects the prefill is not unhealthy, and its 400 must not hide the real break.
            self._record(attempt, failure, now)
            self._emit(PrefillRejectedEvent(pool=self.pool.name, model=attempt.model.key))
            self._current = None
            return
        reason = self._record_failure(attempt, failure, now)
        if failure.kind.is_caller_error:
            self._final = self._exhaust(failure)
        elif failure.kind is FailureKind.CONTEXT_LENGTH:
            self.requirements = self.requirements.with_min_context((attempt.model.context_window or 0) + 1)
            self._current = None
        elif self._should_retry(attempt, failure, reason):
            self._retry_or_move(failure, now)
        else:
            self._current = None

    def interrupted(self, attempt: Attempt, failure: Failure, delivered: str, resumable: bool) -> bool:
        """A stream broke after content reached the caller. Counts the failure; True when the pool
        resumes the answer (``streaming.on_interrupt: continue``): the next steps then send the
        prefill continuation to models that support ``assistant_prefill``."""
        now = self.env.clock()
        self._record_failure(attempt, self._redacted(failure, attempt), now)
        settings = self.pool.config.streaming
        if settings.on_interrupt != "continue" or not resumable:
            return False
        if self.continuations >= settings.max_continuations or self._original is None:
            return False
        self.continuations += 1
        self.request = continuation_request(self._original, delivered)
        needs = requirements_of(self.request)
        tokens = max(needs.prompt_tokens or 0, self.requirements.prompt_tokens or 0)
        self.requirements = Requirements(self.requirements.features | {PREFILL}, True, tokens)
        self._queue, self._current, self._tries, self._wait = None, None, 0, 0.0
        self._segment_start, self._broken = len(self.records), attempt.model.key
        self._deadline = min(now + self.pool.config.timeouts.total_s, self._caller_deadline)
        self._emit(
            ContinuationEvent(pool=self.pool.name, from_=attempt.model.key, delivered_chars=len(delivered))
        )
        return True

    def _redacted(self, failure: Failure, attempt: Attempt) -> Failure:
        """Provider text enters state, events and the caller's error only through here: a provider that
        echoes a key in its error message must not plant it in a standby reason or a store. A failure
        with no response says where it was going (host and port), which the transport error does not."""
        message = self.env.redact(failure.message.encode()).decode()
        if failure.status is None and failure.kind in (FailureKind.CONNECTION, FailureKind.TIMEOUT):
            message = f"{message} ({_where(attempt.provider.base_url)})"
        body = self.env.redact(failure.body) if failure.body else failure.body
        if message == failure.message and body is failure.body:
            return failure
        return replace(failure, message=message, body=body)

    def _record(self, attempt: Attempt, failure: Failure, now: float) -> None:
        latency = now - attempt.started_at
        record = AttemptRecord(
            attempt.model.key,
            attempt.provider.name,
            failure.kind.value,
            failure.status,
            latency * 1000,
            failure.message[:200],
        )
        self.records.append(record)
        self._last = failure
        self._emit_attempt(attempt, failure.kind.value, failure.status, latency, failure.message)

    def _record_failure(self, attempt: Attempt, failure: Failure, now: float) -> str | None:
        """Record the attempt and update health; returns the standby reason if it took the model out."""
        config = self.pool.config
        model = attempt.model
        self._record(attempt, failure, now)
        if failure.kind is FailureKind.AUTH or failure.status in config.deactivation.provider_statuses:
            self.env.store.update_provider(
                model.provider, lambda s: health.disable_provider(s, failure, config.recovery, now)
            )
            self._emit(
                DeactivationEvent(scope="provider", provider=model.provider, reason=f"HTTP {failure.status}")
            )
        if failure.suspects_endpoint and model.provider not in self._suspects:
            self._suspects.add(model.provider)
            self.env.store.update_provider(
                model.provider, lambda s: health.suspect_provider(s, failure, config.recovery, now)
            )
            self._emit(SuspicionEvent(provider=model.provider, reason=failure.kind.value))
        reason = self.env.store.update_model(
            model.key, lambda s: health.record_failure(s, failure, config.deactivation, config.recovery, now)
        )
        if reason is not None:
            self._emit(DeactivationEvent(scope="model", model=model.key, reason=reason))
        return reason

    def _should_retry(self, attempt: Attempt, failure: Failure, reason: str | None) -> bool:
        if not failure.kind.is_retryable or reason is not None or self._tries >= self._max_attempts(attempt):
            return False
        return failure.kind is not FailureKind.TIMEOUT or self.pool.config.retry.retry_timeouts

    def _max_attempts(self, attempt: Attempt) -> int:
        return attempt.provider.max_attempts or self.pool.config.retry.max_attempts

    def _retry_or_move(self, failure: Failure, now: float) -> None:
        retry = self.pool.config.retry
        patient = failure.retry_after_s is not None and failure.retry_after_s <= retry.patience_s
        if failure.kind is FailureKind.RATE_LIMITED and not patient and self._has_alternative(now):
            self._current = None  # a rate-limited model is not worth waiting for while another is ready
            return
        wait = failure.retry_after_s
        if wait is None:
            wait = backoff_s(retry, self._tries, self.env.rng)
        if wait > retry.max_retry_after_s or now + wait >= self._deadline:
            self._current = None
        else:
            self._wait = wait

    def _choose(self, now: float) -> ModelSpec | None:
        ctx: SelectionContext | None = None
        if self._queue is None:
            ctx = self._context(now)
            if getattr(self.pool.policy, "lazy", False):
                candidates = self.pool.models  # health is checked lazily below, down the order
            else:
                ctx.states.prefetch(self.pool.keys)  # one store read for a policy that weighs every model
                candidates = [m for m in self.pool.models if self._usable(m, ctx, now)]
            self._queue = list(self.pool.policy.order(ctx, candidates))
        segment = self.records[self._segment_start :]
        tried = {r.model for r in segment}
        failed_providers = {r.provider for r in segment if r.outcome != "ok"}
        if failed_providers or self._broken is not None:
            # A provider that just failed one model is likely down for its others: try others first.
            self._queue.sort(key=lambda m: (m.key == self._broken, m.provider in failed_providers))
        while self._queue:
            model = self._queue.pop(0)
            if model.key in tried or model.provider in self._suspects:
                continue
            ctx = ctx or self._context(now)  # fresh health after a failed attempt, else the order's
            if self._panic or (self._usable(model, ctx, now) and self._probe(model, ctx, now)):
                self._ctx = ctx
                self._emit_choice(model)
                return model
        return self._enter_panic(now) if not self._panic and not tried else None

    def _emit_choice(self, model: ModelSpec) -> None:
        if not self.env.observer.enabled:
            return  # the hot path: no event is built for nobody (the default observer is off)
        if not self.records:
            self._emit(DecisionEvent(pool=self.pool.name, model=model.key, **self._ids()))
        else:
            reason = self._last.kind.value if self._last else None
            last = self.records[-1].model
            self._emit(
                FailoverEvent(pool=self.pool.name, from_=last, to=model.key, reason=reason, **self._ids())
            )

    def _enter_panic(self, now: float) -> ModelSpec | None:
        """Envoy's panic threshold: when every model the request could use is benched for failures (not
        for auth, spent quotas, manual rotation or a status such as 404), route to them anyway, best
        recent record first, rather than refuse at once while some of them may still answer."""
        ctx = self._context(now)
        benched = []
        ctx.states.prefetch(self.pool.keys)
        for model in self.pool.models:
            state = ctx.states.get(model.key)
            provider = ctx.provider_state(model.provider)
            if not provider.is_active(now) or self.requirements.unmet(model) is not None:
                continue
            benched_for_failures = state.standby_cause == "failures" and not state.is_active(now)
            if benched_for_failures or (provider.is_suspected(now) and state.is_active(now)):
                benched.append((health.panic_rank(state), model))
        if not benched or (self.env.quotas and self._quota):
            return None
        benched.sort(key=lambda pair: pair[0])
        self._panic, self._queue = True, [model for _, model in benched[1:]]
        self._emit(PanicEvent(pool=self.pool.name, models=len(benched)))
        return benched[0][1]

    def _probe(self, model: ModelSpec, ctx: SelectionContext, now: float) -> bool:
        """A half-open model takes one probe at a time; concurrent requests go elsewhere meanwhile."""
        if not ctx.states.get(model.key).is_half_open(now):
            return True  # the hot path: no write, no lock
        timeouts = self.pool.config.timeouts
        lease = min(timeouts.total_s, timeouts.connect_s + max(timeouts.read_s, timeouts.first_token_s))
        taken = self.env.store.update_model(model.key, lambda s: health.take_probe(s, now, lease))
        if taken:
            self._probing = model.key
            self._emit(ProbeEvent(pool=self.pool.name, model=model.key))
        return taken is not False

    def _has_alternative(self, now: float) -> bool:
        ctx = self._context(now)
        current = self._current.key if self._current else None
        tried = {r.model for r in self.records}
        return any(
            m.key != current and m.key not in tried and self._usable(m, ctx, now) for m in self.pool.models
        )

    def _usable(self, model: ModelSpec, ctx: SelectionContext, now: float) -> bool:
        state = ctx.states.get(model.key)
        quotas = self.env.quotas or None
        why = availability(model, state, ctx.provider_state(model.provider), now, quotas, self.env.store)
        if why is not None:
            if why.cause == "quota":
                self._quota[model.key] = (why.reason, why.back_at or now)
            return False
        unmet = self.requirements.unmet(model)
        if unmet is not None:
            self._unmet[model.key] = unmet
            return False
        return True

    def _context(self, now: float) -> SelectionContext:
        env, pool = self.env, self.pool
        # One read for what the decision usually needs: the pool's record and the model that answered
        # last (stick-until-failure's current) with its provider; anything else is read if looked at.
        index = pool.index_of(pool.last_choice) if pool.last_choice else 0
        guess = pool.models[max(index, 0)]
        snap = read_snapshot(env.store, [guess.key], [guess.provider], [pool.name])
        return SelectionContext(
            pool,
            env.store,
            ModelStates(env.store, snap.models),
            env.providers,
            now,
            env.rng,
            self.session_id,
            _provider_states=snap.providers,
            _pool_state=snap.pools[pool.name],
        )

    def _attempt(self, model: ModelSpec, now: float) -> Attempt:
        provider = self.env.providers[model.provider]
        timeouts = self.pool.config.timeouts
        remaining = max(self._deadline - now, 0.001)
        # While another model could still answer, one silent attempt (a connect or a read that hangs)
        # may not spend the whole budget.
        share = remaining / 2 if self._queue else remaining
        stream = self.requirements.streaming
        read_s = min(timeouts.first_token_s, timeouts.stall_s) if stream else timeouts.read_s
        if provider.timeout_s is not None:
            read_s = min(read_s, provider.timeout_s)
        return Attempt(
            number=len(self.records) + 1,
            model=model,
            provider=provider,
            connector=self.env.connector_for(model.provider),
            connect_s=min(timeouts.connect_s, share),
            read_s=min(read_s, share),
            first_token_s=min(timeouts.first_token_s, share),
            stall_s=timeouts.stall_s,
            started_at=now,
            deadline=self._deadline,
        )

    def _exhaust(self, failure: Failure) -> Exhausted:
        body, message = failure.body, failure.message
        failed = [r for r in self.records if r.outcome != "ok"]
        if len(failed) > 1:  # say what happened at every attempt, not only the last provider's words
            lines = "\n".join(f"- {r.line()}" for r in failed)
            message = f"Every attempt in pool {self.pool.name!r} failed ({len(failed)} attempts):\n{lines}"
        if failure.status is not None and body:
            summary = message if len(failed) > 1 else None
            body = self.env.redact(with_attempts(body, [r.as_dict() for r in self.records], summary))
        self._final = Exhausted(failure.kind, message, failure.status, failure.headers, body)
        return self._final

    def _emit_attempt(
        self, attempt: Attempt, outcome: str, status: int | None, latency: float, error: str | None = None
    ) -> None:
        if self.env.observer.enabled:
            event = AttemptEvent(
                pool=self.pool.name,
                model=attempt.model.id,
                provider=attempt.provider.name,
                attempt=attempt.number,
                outcome=outcome,
                status=status,
                latency_ms=round(latency * 1000, 1),
                error=self.env.redact(error.encode()).decode() if error else None,
                **self._ids(),
            )
            self.env.observer.emit(event)

    def _ids(self) -> dict[str, str]:
        return {"request_id": self.request_id, "endpoint": self.request.endpoint.value}

    def _emit(self, event: Event) -> None:
        if self.env.observer.enabled:
            self.env.observer.emit(event)


def _where(base_url: str) -> str:
    """``host:port`` of a provider's base URL (the port its scheme implies when none is written)."""
    parts = urlsplit(base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return f"{parts.hostname}:{port}"
