"""Prometheus metrics of the proxy, read from its own edge and from ``pool_status()`` at scrape time.

Owns the metric families and their registry (one per app, so several apps in a process never clash):
requests, errors by class, latency and time-to-first-byte histograms, attempts and failovers (from the
``x-modelmesh-*`` headers of each answer), in-flight requests, pool/model health gauges, and tokens and
cost per model and pool (read from the mesh's public ``usage`` ledger at scrape time).

With ``--workers N`` the workers run in prometheus-client's multiprocess mode (``use_multiprocess``,
called by each worker before its app is built, on a directory the supervisor creates and removes):
every worker writes its counters, histograms and in-flight gauge (``livesum``: live workers only) to
files there, and a scrape, whichever worker it reaches, sums them all. Tokens and cost come from each
worker's own ledger, so each worker copies its ledger's growth into multiprocess counters once a second
(and at each scrape): a scrape's tokens and cost are at most a second old for the other workers. Pool
and model health come from the shared state store, the same in every worker.

``prometheus-client`` (the ``serve`` extra) is imported here only. It deliberately adds no hook to the
mesh: the mesh's own overhead is not measured.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from modelmesh.mesh import ModelMesh

try:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    from prometheus_client.multiprocess import MultiProcessCollector
except ImportError as exc:  # pragma: no cover - prometheus-client is the `serve` extra
    raise ImportError(
        "modelmesh serve's /metrics needs prometheus-client: pip install 'modelmesh[serve]'"
    ) from exc

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MULTIPROC_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own switch
LEDGER_COPY_S: Final = 1.0  # how often a worker copies its usage ledger into the shared counters
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


def use_multiprocess(directory: str) -> None:
    """Put this process's metrics in ``directory`` (before any metric is made: a worker's first step)."""
    os.environ[MULTIPROC_ENV] = directory
    values.ValueClass = values.get_value_class()  # chosen at import; prometheus_client may be imported


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


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
        self.in_flight = Gauge(
            "modelmesh_proxy_in_flight", "Requests being answered", registry=r, multiprocess_mode="livesum"
        )
        self._series: dict[tuple[str, str, int], tuple[Any, ...]] = {}  # see _children
        self._pools: dict[str, tuple[Any, Any]] = {}
        self._ledger: _LedgerCopy | None = None
        directory = multiprocess_dir()
        if directory is None:
            self.exposition = r
            r.register(_UsageCollector(mesh))
        else:  # the files of every worker, not this process's own values
            self.exposition = CollectorRegistry(auto_describe=True)
            MultiProcessCollector(self.exposition, directory)
            self._ledger = _LedgerCopy(mesh, r)
        self.exposition.register(_PoolCollector(mesh))

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
        if self._ledger is not None:
            self._ledger.copy()
        return generate_latest(self.exposition)


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


_SCOPES: Final = ("model", "pool")
# The usage ledger as metric families, per scope: (name suffix, help, labels after the scope's own).
_USAGE_FAMILIES: Final = (
    ("answers", "Answers counted in the usage ledger per {scope}", ()),
    ("tokens", "Tokens per {scope} as the providers reported them", ("kind",)),
    ("cost_usd", "Cost in USD per {scope} (catalogue prices)", ()),
)


def _usage_families(scope: str) -> list[tuple[str, str, list[str]]]:
    """(name, help, labels) of the answers, tokens and cost families of ``scope``, in that order."""
    return [
        (f"modelmesh_{scope}_{suffix}", text.format(scope=scope), [scope, *extra])
        for suffix, text, extra in _USAGE_FAMILIES
    ]


def _ledger_rows(usage: Any) -> Iterator[tuple[str, str, tuple[int, int, int, float]]]:
    """(scope, name, (answers, prompt tokens, completion tokens, cost)) for every row of ``usage``."""
    for scope, table in (("model", usage.by_model), ("pool", usage.by_pool)):
        for name, totals in dict(table).items():  # a copy: requests may add keys while this runs
            yield (
                scope,
                name,
                (totals.requests, totals.prompt_tokens, totals.completion_tokens, totals.cost_usd),
            )


class _UsageCollector:
    """Tokens and cost from ``mesh.usage`` (successful answers only), read when Prometheus scrapes."""

    def __init__(self, mesh: ModelMesh) -> None:
        self.usage = mesh.usage

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        families = {
            scope: [
                CounterMetricFamily(name, text, labels=labels)
                for name, text, labels in _usage_families(scope)
            ]
            for scope in _SCOPES
        }
        for scope, name, (requests, prompt, completion, cost_usd) in _ledger_rows(self.usage):
            answers, tokens, cost = families[scope]
            answers.add_metric([name], requests)
            tokens.add_metric([name, "prompt"], prompt)
            tokens.add_metric([name, "completion"], completion)
            cost.add_metric([name], cost_usd)
        for each in families.values():
            yield from each


class _LedgerCopy:
    """Copies the growth of this worker's usage ledger into multiprocess counters (summed over workers),
    from a daemon thread every ``LEDGER_COPY_S`` and at each scrape."""

    def __init__(self, mesh: ModelMesh, registry: CollectorRegistry) -> None:
        self.usage = mesh.usage
        self._lock = threading.Lock()
        self._copied: dict[tuple[str, str], tuple[int, int, int, float]] = {}
        self._counters = {
            scope: [
                Counter(name, text, labels, registry=registry)
                for name, text, labels in _usage_families(scope)
            ]
            for scope in _SCOPES
        }
        thread = threading.Thread(target=_copy_loop, args=(weakref.ref(self),), daemon=True)
        thread.name = "modelmesh-metrics-ledger"
        thread.start()

    def copy(self) -> None:
        with self._lock:
            for scope, name, now in _ledger_rows(self.usage):
                was = self._copied.get((scope, name), (0, 0, 0, 0.0))
                if now == was:
                    continue
                answers, tokens, cost = self._counters[scope]
                answers.labels(name).inc(now[0] - was[0])
                tokens.labels(name, "prompt").inc(now[1] - was[1])
                tokens.labels(name, "completion").inc(now[2] - was[2])
                cost.labels(name).inc(now[3] - was[3])
                self._copied[(scope, name)] = now


def _copy_loop(ref: weakref.ReferenceType[_LedgerCopy]) -> None:
    stop = threading.Event()
    while not stop.wait(LEDGER_COPY_S):
        ledger = ref()
        if ledger is None:
            return
        ledger.copy()
        del ledger
