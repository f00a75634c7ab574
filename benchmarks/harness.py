"""Alternating rounds, statistics and verdicts, shared by every case.

A case supplies two callables that each run one *round* and return the wall-clock and CPU time it
took per unit (per request, per gather, per import). ``alternate`` calls them in ABBA order (baseline
first on even rounds, candidate first on odd ones) after discarded warm-up rounds, so slow drift and
"who ran first" effects cancel. The verdict uses the median of the per-round ratios: each compares
two rounds that ran back to back. CPU time is the client process's own (the server runs elsewhere):
on a loaded machine it is less noisy than wall-clock and isolates what the client costs, so it is
reported beside the wall-clock ratio, which alone decides the verdict."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

Round = Callable[[], "Sample"]  # runs one round


@dataclass(frozen=True, slots=True)
class Sample:
    wall_s: float  # per unit
    cpu_s: float  # per unit, this process (or the child interpreter, for imports)


class Timer:
    """Wall-clock and process CPU time of a block, divided by ``units``."""

    def __enter__(self) -> Timer:
        self._wall, self._cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.perf_counter() - self._wall
        self.cpu_s = time.process_time() - self._cpu

    def per(self, units: int) -> Sample:
        return Sample(self.wall_s / units, self.cpu_s / units)


@dataclass(slots=True)
class CaseResult:
    name: str
    unit: str  # what one sample measures, e.g. "request" or "gather of 64"
    baseline_label: str
    candidate_label: str
    baseline_s: list[float]
    candidate_s: list[float]
    baseline_cpu_s: list[float]
    candidate_cpu_s: list[float]
    target: float
    ambition: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def baseline_median_s(self) -> float:
        return statistics.median(self.baseline_s)

    @property
    def candidate_median_s(self) -> float:
        return statistics.median(self.candidate_s)

    @property
    def paired_ratios(self) -> list[float]:
        return [c / b for b, c in zip(self.baseline_s, self.candidate_s, strict=True) if b > 0]

    @property
    def ratio(self) -> float:
        return statistics.median(self.paired_ratios)

    @property
    def cpu_ratio(self) -> float:
        pairs = zip(self.baseline_cpu_s, self.candidate_cpu_s, strict=True)
        return statistics.median(c / b for b, c in pairs if b > 0)

    @property
    def spread(self) -> tuple[float, float]:
        """The interquartile range of the paired ratios: how much to trust ``ratio``."""
        ratios = sorted(self.paired_ratios)
        if len(ratios) < 4:
            return ratios[0], ratios[-1]
        q = statistics.quantiles(ratios, n=4)
        return q[0], q[2]

    @property
    def meets_target(self) -> bool:
        return self.ratio <= self.target

    @property
    def verdict(self) -> str:
        if not self.meets_target:
            return "MISS"
        if self.ambition is not None and self.ratio <= self.ambition:
            return "ok (ambition met)"
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(
            baseline_median_s=self.baseline_median_s,
            candidate_median_s=self.candidate_median_s,
            ratio=self.ratio,
            cpu_ratio=self.cpu_ratio,
            baseline_cpu_median_s=statistics.median(self.baseline_cpu_s),
            candidate_cpu_median_s=statistics.median(self.candidate_cpu_s),
            ratio_of_medians=self.candidate_median_s / self.baseline_median_s,
            ratio_iqr=list(self.spread),
            overhead_s=self.candidate_median_s - self.baseline_median_s,
            meets_target=self.meets_target,
            verdict=self.verdict,
        )
        return data


def alternate(baseline: Round, candidate: Round, *, rounds: int, warmup: int = 2) -> dict[str, list[float]]:
    """Run ``warmup`` discarded pairs, then ``rounds`` timed pairs in ABBA order; the
    ``CaseResult`` fields ``baseline_s``, ``candidate_s``, ``baseline_cpu_s``, ``candidate_cpu_s``."""
    samples: dict[bool, list[Sample]] = {False: [], True: []}
    for index in range(warmup + rounds):
        order = (baseline, candidate) if index % 2 == 0 else (candidate, baseline)
        pair = {}
        for fn in order:
            gc.collect()
            pair[fn is candidate] = fn()
        if index >= warmup:
            for is_candidate, sample in pair.items():
                samples[is_candidate].append(sample)
    return {
        "baseline_s": [s.wall_s for s in samples[False]],
        "candidate_s": [s.wall_s for s in samples[True]],
        "baseline_cpu_s": [s.cpu_s for s in samples[False]],
        "candidate_cpu_s": [s.cpu_s for s in samples[True]],
    }


def format_duration(seconds: float) -> str:
    size = abs(seconds)
    if size >= 1:
        return f"{seconds:.2f} s"
    if size >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds * 1e6:.0f} µs"


def table(results: list[CaseResult]) -> str:
    """A plain-text table (it goes to logs and into docs/benchmarks.md as is)."""
    header = (
        "case",
        "per",
        "baseline",
        "modelmesh",
        "overhead",
        "ratio",
        "IQR",
        "target",
        "verdict",
        "CPU ratio",
    )
    rows = [header]
    for r in results:
        low, high = r.spread
        target = f"≤ {r.target:.2f}x" + (f" ({r.ambition:.2f}x)" if r.ambition else "")
        rows.append(
            (
                r.name,
                r.unit,
                format_duration(r.baseline_median_s),
                format_duration(r.candidate_median_s),
                format_duration(r.candidate_median_s - r.baseline_median_s),
                f"{r.ratio:.3f}x",
                f"{low:.3f}-{high:.3f}",
                target,
                r.verdict,
                f"{r.cpu_ratio:.3f}x",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
