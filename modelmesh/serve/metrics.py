"""Prometheus metrics of the proxy, read from its own edge and from ``pool_status()`` at scrape time.

Owns the metric families and their registry (one per app, so several apps in a process never clash):
requests, errors by class, latency and time-to-first-byte histograms, attempts and failovers (from the
``x-modelmesh-*`` headers of each answer), in-flight requests, pool/model health gauges, and tokens and
cost per model and pool (read from the mesh's public ``usage`` ledger at scrape time). Each process has
its own figures: with ``--workers N`` a scrape reaches one worker. ``prometheus-client`` (the ``serve``
extra) is imported here only. It deliberately adds no hook to the mesh: the mesh's own overhead is not
measured.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from modelmesh.mesh import ModelMesh

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
except ImportError as exc:  # pragma: no cover - prometheus-client is the `serve` extra
    raise ImportError(
        "modelmesh serve's /metrics needs prometheus-client: pip install 'modelmesh[serve]'"
    ) from exc

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def error_class(status: int) -> str | None:
    """The kind of failure a status stands for, for ``modelmesh_proxy_errors_total{class=...}``."""
    if status < 400:
        return None
    return {
        400: "bad_request",
        401: "unauthorized",
        404: "not_found",
        408: "client_timeout",
        413: "too_large",
        429: "rate_limited",
        502: "upstream_unavailable",
        503: "unavailable",
        504: "upstream_timeout",
    }.get(status, "client_error" if status < 500 else "upstream_error")


class ProxyMetrics:
    """The proxy's metric families in their own registry; :meth:`render` is the ``/metrics`` body."""

    def __init__(self, mesh: ModelMesh) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "modelmesh_proxy_requests", "Requests answered", ["route", "method", "status"], registry=r
        )
        self.errors = Counter(
            "modelmesh_proxy_errors", "Error answers by class", ["route", "class"], registry=r
        )
        self.latency = Histogram(
            "modelmesh_proxy_request_seconds",
            "Time to the end of the answer",
            ["route"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.first_byte = Histogram(
            "modelmesh_proxy_first_byte_seconds",
            "Time to the answer's status line (after the mesh's first-token prefetch for streams)",
            ["route"],
            buckets=_BUCKETS,
            registry=r,
        )
        self.attempts = Counter(
            "modelmesh_proxy_attempts", "Provider attempts of routed requests", ["pool"], registry=r
        )
        self.failovers = Counter(
            "modelmesh_proxy_failovers", "Failovers of routed requests", ["pool"], registry=r
        )
        self.in_flight = Gauge("modelmesh_proxy_in_flight", "Requests being answered", registry=r)
        r.register(_PoolCollector(mesh))
        r.register(_UsageCollector(mesh))
        self._series: dict[tuple[str, str, int], tuple[Any, ...]] = {}  # see _children
        self._pools: dict[str, tuple[Any, Any]] = {}

    def observe(
        self, route: str, method: str, status: int, seconds: float, first_byte_s: float | None
    ) -> None:
        series = self._series.get((route, method, status))
        if series is None:
            series = self._series[route, method, status] = self._children(route, method, status)
        requests, latency, first_byte, errors = series
        requests.inc()
        latency.observe(seconds)
        if first_byte_s is not None:
            first_byte.observe(first_byte_s)
        if errors is not None:
            errors.inc()

    def _children(self, route: str, method: str, status: int) -> tuple[Any, ...]:
        """The labelled series one kind of answer updates: ``labels()`` looks them up (and locks) per call.

        Bounded: routes are a fixed list (``edge.route_of``), methods are uvicorn-validated tokens
        that a client can vary only per request it sends, statuses are three digits.
        """
        kind = error_class(status)
        return (
            self.requests.labels(route, method, str(status)),
            self.latency.labels(route),
            self.first_byte.labels(route),
            self.errors.labels(route, kind) if kind is not None else None,
        )

    def routed(self, pool: str, attempts: str | None, failovers: str | None) -> None:
        counters = self._pools.get(pool)
        if counters is None:
            counters = self._pools[pool] = (self.attempts.labels(pool), self.failovers.labels(pool))
        if attempts and attempts.isdigit():
            counters[0].inc(int(attempts))
        if failovers and failovers.isdigit():
            counters[1].inc(int(failovers))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _PoolCollector:
    """Pool and model health, read from ``pool_status()`` when Prometheus scrapes (never stale)."""

    def __init__(self, mesh: ModelMesh) -> None:
        self.mesh = mesh

    def describe(self) -> list[Metric]:
        return []  # unknown until collected: pools are read at scrape time

    def collect(self) -> Iterator[Metric]:
        active = GaugeMetricFamily("modelmesh_pool_models_active", "Active models per pool", labels=["pool"])
        total = GaugeMetricFamily("modelmesh_pool_models", "Models per pool", labels=["pool"])
        model_up = GaugeMetricFamily(
            "modelmesh_model_active",
            "1 when a model is active, 0 on standby",
            labels=["pool", "model", "provider"],
        )
        for name, status in self.mesh.pool_status().items():
            active.add_metric([name], status.active)
            total.add_metric([name], status.total)
            for model in status.models:
                model_up.add_metric([name, model.model, model.provider], 1.0 if model.active else 0.0)
        yield from (active, total, model_up)


class _UsageCollector:
    """Tokens and cost from ``mesh.usage`` (successful answers only), read when Prometheus scrapes."""

    def __init__(self, mesh: ModelMesh) -> None:
        self.usage = mesh.usage

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        for scope, table in (("model", self.usage.by_model), ("pool", self.usage.by_pool)):
            answers = CounterMetricFamily(
                f"modelmesh_{scope}_answers",
                f"Answers counted in the usage ledger per {scope}",
                labels=[scope],
            )
            tokens = CounterMetricFamily(
                f"modelmesh_{scope}_tokens",
                f"Tokens per {scope} as the providers reported them",
                labels=[scope, "kind"],
            )
            cost = CounterMetricFamily(
                f"modelmesh_{scope}_cost_usd", f"Cost in USD per {scope} (catalogue prices)", labels=[scope]
            )
            for name, totals in dict(table).items():  # a copy: requests may add keys while this runs
                answers.add_metric([name], totals.requests)
                tokens.add_metric([name, "prompt"], totals.prompt_tokens)
                tokens.add_metric([name, "completion"], totals.completion_tokens)
                cost.add_metric([name], totals.cost_usd)
            yield from (answers, tokens, cost)
