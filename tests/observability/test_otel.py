"""``modelmesh.otel.v1``: one span per request and per attempt (GenAI semantic conventions) and metrics,
checked with the OpenTelemetry SDK's in-memory exporters."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from modelmesh import ConfigError, MeshClient, create, create_async
from modelmesh.testing import Fault

HELLO = [{"role": "user", "content": "hi"}]


@dataclass
class Telemetry:
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    options: dict[str, Any]

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[Any]:
        data = self.metrics.get_metrics_data()
        assert data is not None
        return [
            point
            for resource in data.resource_metrics
            for scope in resource.scope_metrics
            for metric in scope.metrics
            if metric.name == name
            for point in metric.data.data_points
        ]


@pytest.fixture
def make() -> Iterator[Callable[..., MeshClient]]:
    """``create`` whose clients are closed after the test, so no connection outlives it."""
    made: list[MeshClient] = []

    def tracked(*args: Any, **kwargs: Any) -> MeshClient:
        made.append(create(*args, **kwargs))
        return made[-1]

    yield tracked
    for client in made:
        client.close()


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[metrics])
    yield Telemetry(spans, metrics, {"tracer_provider": tracer_provider, "meter_provider": meter_provider})
    tracer_provider.shutdown()
    meter_provider.shutdown()


def _config(telemetry: Telemetry, **extra: Any) -> dict[str, Any]:
    return {"observability": {"connector": "modelmesh.otel.v1", "options": telemetry.options}, **extra}


def _split(spans: list[ReadableSpan]) -> tuple[ReadableSpan, list[ReadableSpan]]:
    (request,) = [s for s in spans if s.kind is SpanKind.INTERNAL]
    attempts = sorted((s for s in spans if s.kind is SpanKind.CLIENT), key=lambda s: s.start_time or 0)
    return request, attempts


def test_a_request_with_a_retry_and_a_failover(
    fakes, make: Callable[..., MeshClient], telemetry: Telemetry
) -> None:  # type: ignore[no-untyped-def]
    client = make("chat-completion", config=_config(telemetry))
    fakes[0].fail_next(2, Fault.status(503))  # retried once on gpt-4o, then a failover to groq
    client.chat.completions.create(model="chat-completion", messages=HELLO)
    request, attempts = _split(telemetry.finished())

    assert request.name == "chat chat-completion"
    attrs = dict(request.attributes or {})
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.request.model"] == "chat-completion"
    assert attrs["gen_ai.response.model"] == "llama-3.3-70b-versatile"
    assert attrs["gen_ai.provider.name"] == "groq"
    assert attrs["gen_ai.usage.input_tokens"] > 0 and attrs["gen_ai.usage.output_tokens"] > 0
    assert attrs["modelmesh.failovers"] == 1 and attrs["modelmesh.attempts"] == 3
    assert request.status.status_code is not StatusCode.ERROR
    assert [e.name for e in request.events] == ["retry", "failover"]
    failover = dict(request.events[1].attributes or {})
    assert failover["from"] == "openai.gpt-4o" and failover["to"] == "groq.llama-3.3-70b-versatile"

    assert [s.name for s in attempts] == ["chat gpt-4o", "chat gpt-4o", "chat llama-3.3-70b-versatile"]
    assert all(s.parent is not None and s.parent.span_id == request.context.span_id for s in attempts)
    assert {s.context.trace_id for s in attempts} == {request.context.trace_id}
    first = dict(attempts[0].attributes or {})
    assert first["error.type"] == "503" and first["gen_ai.provider.name"] == "openai"
    assert first["gen_ai.request.model"] == "gpt-4o" and first["http.response.status_code"] == 503
    assert attempts[0].status.status_code is StatusCode.ERROR
    last = dict(attempts[2].attributes or {})
    assert "error.type" not in last and last["gen_ai.response.model"] == "llama-3.3-70b-versatile"

    # Spans are built after the fact from the events' latencies: they must still nest in time.
    assert request.start_time is not None and request.end_time is not None
    for span in attempts:
        assert span.start_time is not None and span.end_time is not None
        assert request.start_time <= span.start_time <= span.end_time <= request.end_time
    assert attempts[0].end_time <= attempts[1].start_time  # type: ignore[operator]


def test_metrics_duration_tokens_and_failovers(
    fakes, make: Callable[..., MeshClient], telemetry: Telemetry
) -> None:  # type: ignore[no-untyped-def]
    client = make("chat-completion", config=_config(telemetry))
    fakes[0].fail_next(1, Fault.status(401, message="Incorrect API key provided: sk-test-openai-123456"))
    client.chat.completions.create(model="chat-completion", messages=HELLO)
    client.chat.completions.create(model="chat-completion", messages=HELLO)
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.count == 2 and duration.sum > 0
    assert duration.attributes["gen_ai.response.model"] == "llama-3.3-70b-versatile"
    tokens = {p.attributes["gen_ai.token.type"]: p for p in telemetry.points("gen_ai.client.token.usage")}
    assert set(tokens) == {"input", "output"} and tokens["input"].count == 2 and tokens["input"].sum > 0
    (failovers,) = telemetry.points("modelmesh.failovers")
    assert failovers.value == 1 and failovers.attributes["modelmesh.pool"] == "chat-completion"
    assert not any("sk-test-openai-123456" in str(s.to_json()) for s in telemetry.finished())


def test_an_embeddings_pool_is_the_embeddings_operation(
    fakes, make: Callable[..., MeshClient], telemetry: Telemetry
) -> None:  # type: ignore[no-untyped-def]
    client = make("text-embeddings", config=_config(telemetry))
    client.embeddings.create(model="text-embeddings", input="hello")
    request, attempts = _split(telemetry.finished())
    assert request.name == "embeddings text-embeddings"
    assert dict(attempts[0].attributes or {})["gen_ai.operation.name"] == "embeddings"


def test_a_failed_request_is_an_error_span_with_its_type(
    fakes, make: Callable[..., MeshClient], telemetry: Telemetry
) -> None:  # type: ignore[no-untyped-def]
    client = make("chat-completion", models=["gpt-4o"], config=_config(telemetry))
    fakes[0].fail_next(5, Fault.status(400, message="bad input"))
    with pytest.raises(Exception, match="bad input"):
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    request, _attempts = _split(telemetry.finished())
    assert request.status.status_code is StatusCode.ERROR
    assert dict(request.attributes or {})["error.type"] == "400"
    assert "gen_ai.response.model" not in dict(request.attributes or {})
    (duration,) = telemetry.points("gen_ai.client.operation.duration")
    assert duration.attributes["error.type"] == "400"


async def test_concurrent_async_requests_get_their_own_spans(fakes, telemetry: Telemetry) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    async with create_async("chat-completion", config=_config(telemetry)) as client:
        await asyncio.gather(
            *(client.chat.completions.create(model="chat-completion", messages=HELLO) for _ in range(4))
        )
    spans = telemetry.finished()
    requests = [s for s in spans if s.kind is SpanKind.INTERNAL]
    assert len(requests) == 4
    for request in requests:
        children = [s for s in spans if s.parent is not None and s.parent.span_id == request.context.span_id]
        assert len(children) == 1  # each request owns exactly its own attempt


def test_without_the_otel_extra_the_error_names_it(
    fakes, make: Callable[..., MeshClient], monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    with pytest.raises(ConfigError, match=r"modelmesh\[otel\]"):
        make("chat-completion", config={"observability": {"connector": "otel"}})


def test_default_global_provider_sends_nothing_and_does_not_fail(
    fakes, make: Callable[..., MeshClient]
) -> None:  # type: ignore[no-untyped-def]
    client = make("chat-completion", config={"observability": {"connector": "otel"}})
    assert client.chat.completions.create(model="chat-completion", messages=HELLO).model == "gpt-4o"


def test_the_request_span_joins_the_callers_current_span(  # type: ignore[no-untyped-def]
    fakes, make: Callable[..., MeshClient], telemetry: Telemetry
) -> None:
    client = make("chat-completion", config=_config(telemetry))
    tracer = telemetry.options["tracer_provider"].get_tracer("app")
    with tracer.start_as_current_span("handle-user-question") as outer:
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    request, _ = _split([s for s in telemetry.finished() if s.name != "handle-user-question"])
    assert request.parent is not None and request.parent.span_id == outer.get_span_context().span_id


def _events_for(observer: Any, *events: dict[str, Any]) -> None:
    for event in events:
        observer.emit({"pool": "p", **event})


def test_a_request_whose_end_was_seen_elsewhere_does_not_leak_into_the_next(telemetry: Telemetry) -> None:
    from modelmesh.observability.otel import OtelObserver

    observer = OtelObserver(**telemetry.options)
    attempt = {"event": "attempt", "model": "m", "provider": "openai", "attempt": 1, "outcome": "ok"}
    _events_for(observer, {"event": "decision"}, {**attempt, "latency_ms": 1.0})  # its end went elsewhere
    _events_for(
        observer,
        {"event": "decision"},
        {**attempt, "latency_ms": 2.0},
        {"event": "request", "model": "m", "provider": "openai", "outcome": "ok", "attempts": 1},
    )
    _request, attempts = _split(telemetry.finished())
    assert len(attempts) == 1


def test_a_continued_stream_keeps_both_segments_in_one_request(telemetry: Telemetry) -> None:
    from modelmesh.observability.otel import OtelObserver

    observer = OtelObserver(**telemetry.options)
    failed = {"event": "attempt", "model": "a", "provider": "openai", "attempt": 1, "outcome": "stream_cut"}
    resumed = {"event": "attempt", "model": "b", "provider": "groq", "attempt": 2, "outcome": "ok"}
    _events_for(
        observer,
        {"event": "decision"},
        {**failed, "latency_ms": 1.0},
        {"event": "continuation", "from": "openai.a", "delivered_chars": 5},
        {"event": "decision"},
        {**resumed, "latency_ms": 1.0},
        {"event": "request", "model": "b", "provider": "groq", "outcome": "ok", "attempts": 2},
    )
    request, attempts = _split(telemetry.finished())
    assert [s.name for s in attempts] == ["chat a", "chat b"]
    assert [e.name for e in request.events] == ["continuation"]
