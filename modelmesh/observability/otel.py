"""``modelmesh.otel.v1``: OpenTelemetry spans and metrics following the GenAI semantic conventions.

One ``INTERNAL`` span per request (``chat chat-completion``) with one ``CLIENT`` child span per attempt
(``chat gpt-4o``); retries and failovers are span events on the request span. Metrics:
``gen_ai.client.operation.duration`` (s), ``gen_ai.client.token.usage`` ({token}, by
``gen_ai.token.type``) and the ``modelmesh.failovers`` counter.

Events reach observers after the fact (an attempt when it ended, with its ``latency_ms``), so spans are
built with explicit start and end times. The events of one request are gathered in a context variable:
each request runs in its own thread or asyncio task, so concurrent requests never mix. Tracer and meter
come from the ``tracer_provider`` / ``meter_provider`` options, else from the global providers, which
send nothing until the application configures the OpenTelemetry SDK. It does not configure exporters.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from modelmesh.errors import ConfigError

# Semantic-convention names for our presets; others go by their own name (the convention allows it).
_PROVIDER_NAMES = {"google": "gcp.gemini", "mistral": "mistral_ai", "xai": "x_ai"}
_MARKS = ("failover", "deactivation", "continuation", "probe")


@dataclass
class _Request:
    """The events of one request so far, with the time each arrived (ns)."""

    started_ns: int
    attempts: list[tuple[Mapping[str, Any], int]] = field(default_factory=list)
    marks: list[tuple[str, Mapping[str, Any], int]] = field(default_factory=list)


_pending: ContextVar[dict[str, _Request] | None] = ContextVar("modelmesh_otel_pending", default=None)


class OtelObserver:
    """Turns routing events into spans and metrics (see the module docstring)."""

    enabled = True

    def __init__(
        self,
        path: str | None = None,
        *,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        **_options: Any,
    ) -> None:
        try:
            from opentelemetry import metrics, trace
        except ImportError:
            raise ConfigError(
                "modelmesh.otel.v1 needs OpenTelemetry: pip install 'modelmesh[otel]'",
                path="observability.connector",
            ) from None
        from modelmesh import __version__

        self._trace = trace
        tracers = tracer_provider or trace.get_tracer_provider()
        meters = meter_provider or metrics.get_meter_provider()
        self._tracer = tracers.get_tracer("modelmesh", __version__)
        meter = meters.get_meter("modelmesh", __version__)
        self._duration = meter.create_histogram(
            "gen_ai.client.operation.duration", unit="s", description="GenAI operation duration"
        )
        self._tokens = meter.create_histogram(
            "gen_ai.client.token.usage", unit="{token}", description="Tokens used per request"
        )
        self._failovers = meter.create_counter(
            "modelmesh.failovers", unit="{failover}", description="Moves to another model within a request"
        )
        self._operations: dict[str, str] = {}

    def describe_pools(self, capabilities: dict[str, str]) -> None:
        """Told by the mesh builder which capability each pool serves (``gen_ai.operation.name``)."""
        self._operations = {pool: operation_of(capability) for pool, capability in capabilities.items()}

    def emit(self, event: Mapping[str, Any]) -> None:
        kind = event.get("event")
        pool = str(event.get("pool") or "")
        if kind == "request":
            pending = _pending.get() or {}
            request = pending.pop(pool, None) or _Request(time.time_ns())
            self._finish(pool, event, request)
        elif kind == "attempt" or kind in _MARKS or kind == "decision":
            request = self._request(pool, fresh=kind == "decision")
            if kind == "attempt":
                request.attempts.append((event, time.time_ns()))
            elif kind != "decision":
                request.marks.append((str(kind), event, time.time_ns()))

    def close(self) -> None:
        return None

    def _request(self, pool: str, *, fresh: bool = False) -> _Request:
        """This context's open request in ``pool``. A decision starts a new one unless it resumes a
        continued stream: events left from a request whose end was reported elsewhere are dropped."""
        pending = _pending.get()
        if pending is None:
            pending = {}
            _pending.set(pending)
        request = pending.get(pool)
        resuming = request is not None and request.marks and request.marks[-1][0] == "continuation"
        if request is None or (fresh and request.attempts and not resuming):
            request = pending[pool] = _Request(time.time_ns())
        return request

    def _finish(self, pool: str, event: Mapping[str, Any], request: _Request) -> None:
        end_ns = time.time_ns()
        operation = self._operations.get(pool, "chat")
        starts = [done - _ns(a.get("latency_ms")) for a, done in request.attempts]
        start_ns = min([request.started_ns, *starts])
        attributes = _request_attributes(operation, pool, event, request)
        span = self._tracer.start_span(
            f"{operation} {pool}",
            kind=self._trace.SpanKind.INTERNAL,
            start_time=start_ns,
            attributes=attributes,
        )
        for name, mark, at in _span_events(request):
            span.add_event(name, attributes=mark, timestamp=at)
        if "error.type" in attributes:
            span.set_status(self._trace.StatusCode.ERROR, str(event.get("error") or event.get("outcome")))
        parent = self._trace.set_span_in_context(span)
        for (attempt, done), start in zip(request.attempts, starts, strict=True):
            self._attempt_span(operation, attempt, start, done, parent)
        span.end(end_time=end_ns)
        self._record_metrics(pool, attributes, event, (end_ns - start_ns) / 1e9)

    def _attempt_span(
        self, operation: str, attempt: Mapping[str, Any], start: int, end: int, parent: Any
    ) -> None:
        model = str(attempt.get("model"))
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": operation,
            "gen_ai.provider.name": provider_name(attempt.get("provider")),
            "gen_ai.request.model": model,
            "modelmesh.attempt": attempt.get("attempt"),
            "modelmesh.outcome": attempt.get("outcome"),
        }
        if attempt.get("status") is not None:
            attributes["http.response.status_code"] = attempt["status"]
        failed = attempt.get("outcome") != "ok"
        if failed:
            attributes["error.type"] = str(attempt.get("status") or attempt.get("outcome"))
        else:
            attributes["gen_ai.response.model"] = model
        span = self._tracer.start_span(
            f"{operation} {model}",
            context=parent,
            kind=self._trace.SpanKind.CLIENT,
            start_time=start,
            attributes={k: v for k, v in attributes.items() if v is not None},
        )
        if failed:
            span.set_status(self._trace.StatusCode.ERROR, str(attempt.get("error") or attempt.get("outcome")))
        span.end(end_time=end)

    def _record_metrics(
        self, pool: str, attributes: dict[str, Any], event: Mapping[str, Any], seconds: float
    ) -> None:
        keys = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")
        common = {k: attributes[k] for k in (*keys, "gen_ai.response.model", "error.type") if k in attributes}
        self._duration.record(seconds, attributes=common)
        for kind, key in (("input", "prompt_tokens"), ("output", "completion_tokens")):
            if isinstance(event.get(key), int):
                self._tokens.record(event[key], attributes={**common, "gen_ai.token.type": kind})
        if event.get("failovers"):
            self._failovers.add(int(event["failovers"]), attributes={"modelmesh.pool": pool})


def _request_attributes(
    operation: str, pool: str, event: Mapping[str, Any], request: _Request
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.request.model": pool,
        "modelmesh.pool": pool,
        "modelmesh.outcome": event.get("outcome"),
        "modelmesh.attempts": event.get("attempts"),
        "modelmesh.failovers": event.get("failovers"),
    }
    last = request.attempts[-1][0] if request.attempts else {}
    provider = event.get("provider") or last.get("provider")
    if provider:
        attributes["gen_ai.provider.name"] = provider_name(provider)
    if event.get("outcome") == "ok":
        attributes["gen_ai.response.model"] = event.get("model")
        attributes["gen_ai.usage.input_tokens"] = event.get("prompt_tokens")
        attributes["gen_ai.usage.output_tokens"] = event.get("completion_tokens")
    else:
        attributes["error.type"] = str(last.get("status") or last.get("outcome") or event.get("outcome"))
    return {k: v for k, v in attributes.items() if v is not None}


def _span_events(request: _Request) -> list[tuple[str, Mapping[str, Any], int]]:
    """Failovers and other marks as they came, plus a ``retry`` for each attempt on the model just tried."""
    found = [(name, _plain(mark), at) for name, mark, at in request.marks]
    previous: Mapping[str, Any] | None = None
    for attempt, done in request.attempts:
        if previous is not None and previous.get("model") == attempt.get("model"):
            start = done - _ns(attempt.get("latency_ms"))
            found.append(
                ("retry", {"model": str(attempt.get("model")), "attempt": attempt.get("attempt")}, start)
            )
        previous = attempt
    return sorted(found, key=lambda item: item[2])


def _plain(event: Mapping[str, Any]) -> dict[str, Any]:
    """Span-event attributes: the event's scalar fields, without its kind."""
    return {
        k: v
        for k, v in event.items()
        if k != "event" and v is not None and isinstance(v, str | int | float | bool)
    }


def _ns(latency_ms: Any) -> int:
    return int(float(latency_ms or 0) * 1_000_000)


def provider_name(provider: Any) -> str:
    """``gen_ai.provider.name`` for a ModelMesh provider name."""
    return _PROVIDER_NAMES.get(str(provider), str(provider))


def operation_of(capability: str) -> str:
    """``gen_ai.operation.name`` for a pool's capability ID."""
    if capability.startswith("representation.embeddings"):
        return "embeddings"
    if capability.startswith(("generation.audio", "generation.image", "understanding.audio")):
        return "generate_content"
    return "chat"
