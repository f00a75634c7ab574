"""The failoverbench scenarios S01-S16 (methodology v0.1) over the local wall, with their checks.

Faults, thresholds and check kinds follow the public catalogue (``scenarios/catalogue.yaml`` in
``failoverbench/failoverbench``); the scoring below restates its rules: a required check failing, a
hang or a truncated answer presented as success is ``fail``; a rescued call with every check clean is
``pass``, with an advisory check failing ``partial``; a bounded clean error otherwise ``safe``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from modelmesh.testing import Fault
from tests.failover.bench import (
    CANONICAL,
    FALLBACK,
    NO_PREFILL,
    CallResult,
    Wall,
    bench_config,
    call,
    client_for,
    norm,
)

Check = dict[str, Any]
ADVISORY = "advisory"


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    primary: str
    setup: Callable[[Wall, str], None]
    checks: list[Check]
    fallback: str = FALLBACK
    ideal: str = "success"
    max_wall_s: float = 45


def _outage(fault: Fault) -> Callable[[Wall, str], None]:
    return lambda wall, model: wall.primary.set_outage(fault, model=model)


def _once(fault: Fault) -> Callable[[Wall, str], None]:
    return lambda wall, model: wall.primary.fail_next(1, fault, model=model)


def c(kind: str, value: float | None = None, severity: str = "required", **extra: Any) -> Check:
    return {"kind": kind, "value": value, "severity": severity, **extra}


CUT_AFTER = 41  # the role chunk and 40 of the 60 words
SCENARIOS = [
    Scenario(
        "S01",
        "429 with Retry-After",
        "fb-s01-429-retry-after",
        _once(Fault.status(429, retry_after=2)),
        [
            c("attempts_primary_min", 2, ADVISORY),
            c("first_gap_min_s", 1.8, ADVISORY),
            c("max_attempts_within", 2, window_s=1.5),
        ],
        max_wall_s=20,
    ),
    Scenario(
        "S02",
        "429 without Retry-After, persistent",
        "fb-s02-429-persistent",
        _outage(Fault.status(429)),
        [c("max_attempts_within", 4, window_s=3), c("attempts_primary_max", 6), c("no_hang")],
        max_wall_s=40,
    ),
    Scenario(
        "S03",
        "500 once, then healthy",
        "fb-s03-500-then-200",
        _once(Fault.status(500)),
        [c("no_hang"), c("attempts_primary_min", 2, ADVISORY)],
        max_wall_s=20,
    ),
    Scenario(
        "S04",
        "503 persistent",
        "fb-s04-503-persistent",
        _outage(Fault.status(503)),
        [c("attempts_primary_max", 6), c("no_hang")],
        max_wall_s=40,
    ),
    Scenario(
        "S05", "TCP reset before headers", "fb-s05-reset", _once(Fault.reset()), [c("no_hang")], max_wall_s=20
    ),
    Scenario(
        "S06",
        "No response at all",
        "fb-s06-no-response",
        _outage(Fault.latency(15)),
        [c("wall_max_s", 100), c("no_hang"), c("attempts_primary_max", 1, ADVISORY)],
        max_wall_s=130,
    ),
    Scenario(
        "S07",
        "Slow first token",
        "fb-s07-slow-ttft",
        _outage(Fault.slow_first_token(3)),
        [c("no_hang"), c("wall_max_s", 15, ADVISORY)],
        max_wall_s=60,
    ),
    Scenario(
        "S08",
        "Stream cut mid-answer",
        "fb-s08-stream-cut",
        _outage(Fault.cut(after_events=CUT_AFTER)),
        [c("no_truncated_success"), c("no_hang")],
        max_wall_s=40,
    ),
    Scenario(
        "S09",
        "Stream stalls",
        "fb-s09-stream-stall",
        _outage(Fault.stall(after_events=21, seconds=4)),
        [c("wall_max_s", 45), c("no_truncated_success"), c("alive_after"), c("no_hang")],
        max_wall_s=70,
    ),
    Scenario(
        "S10",
        "Malformed chunk in the stream",
        "fb-s10-malformed-chunk",
        _outage(Fault.malformed(10)),
        [c("alive_after"), c("no_truncated_success"), c("no_hang"), c("complete", None, ADVISORY)],
        max_wall_s=30,
    ),
    Scenario(
        "S11",
        "Stream ends without [DONE]",
        "fb-s11-no-done",
        _outage(Fault.no_done()),
        [c("wall_max_s", 8), c("usage_present", None, ADVISORY)],
        max_wall_s=30,
    ),
    Scenario(
        "S12",
        "Context length exceeded",
        "fb-s12-context-length",
        _outage(Fault.context_length()),
        [c("attempts_primary_eq", 1), c("no_hang")],
        max_wall_s=20,
    ),
    Scenario(
        "S13",
        "Content-filter rejection",
        "fb-s13-content-filter",
        _outage(Fault.content_policy()),
        [c("attempts_primary_eq", 1), c("no_hang"), c("fallback_used", None, ADVISORY, informational=True)],
        ideal="error",
        max_wall_s=20,
    ),
    Scenario(
        "S14",
        "Fallback target rejects prefill",
        "fb-s14-stream-cut",
        _outage(Fault.cut(after_events=CUT_AFTER)),
        [c("no_prefill_masking"), c("no_truncated_success")],
        fallback=NO_PREFILL,
        max_wall_s=40,
    ),
    Scenario(
        "S16",
        "Fail-over accounting",
        "fb-s16-503-persistent",
        _outage(Fault.status(503)),
        [c("reported_model_is_fallback"), c("usage_present", None, ADVISORY), c("attempts_primary_max", 6)],
        max_wall_s=40,
    ),
]
BY_ID = {s.id: s for s in SCENARIOS}
MID_STREAM = ("S08", "S09", "S14")


@dataclass
class Outcome:
    scenario: Scenario
    result: CallResult
    metrics: dict[str, Any]
    checks: list[dict[str, Any]] = field(default_factory=list)
    verdict: str = ""
    reason: str = ""
    client: Any = None


def metrics_of(scenario: Scenario, wall: Wall, result: CallResult) -> dict[str, Any]:
    primary = [e for e in wall.log if e["model"] == scenario.primary]
    fallback = [e for e in wall.log if e["model"] == scenario.fallback]
    times = [e["t"] for e in primary]
    return {
        "outcome": "hang"
        if result.elapsed_s > scenario.max_wall_s
        else ("success" if result.ok else "error"),
        "complete": norm(result.content) == norm(CANONICAL),
        "elapsed_s": result.elapsed_s,
        "attempts_primary": len(primary),
        "attempts_fallback": len(fallback),
        "primary_times": times,
        "first_gap_s": times[1] - times[0] if len(times) >= 2 else None,
        "prefill_rejections": sum(1 for e in wall.log if str(e.get("action", "")).startswith("400 prefill")),
        "reported_model": result.model,
        "usage": result.usage,
    }


def evaluate(check: Check, m: dict[str, Any], fallback: str) -> str:
    """One check: ``pass``, ``fail``, or ``info`` (an informational check that did not hold)."""
    kind, value, oc = check["kind"], check["value"], m["outcome"]
    ok = {
        "no_hang": lambda: oc != "hang",
        "complete": lambda: oc == "success" and m["complete"],
        "no_truncated_success": lambda: not (oc == "success" and not m["complete"]),
        "attempts_primary_min": lambda: m["attempts_primary"] >= value,
        "attempts_primary_max": lambda: m["attempts_primary"] <= value,
        "attempts_primary_eq": lambda: m["attempts_primary"] == value,
        "first_gap_min_s": lambda: m["first_gap_s"] is not None and m["first_gap_s"] >= value,
        "max_attempts_within": lambda: (
            sum(1 for t in m["primary_times"] if t - m["primary_times"][0] < check["window_s"]) <= value
        ),
        "wall_max_s": lambda: oc != "hang" and m["elapsed_s"] <= value,
        "alive_after": lambda: m["alive_after"],
        "fallback_used": lambda: m["attempts_fallback"] >= 1,
        "reported_model_is_fallback": lambda: (
            m["attempts_fallback"] == 0 or fallback in (m["reported_model"] or "")
        ),
        "usage_present": lambda: bool(m["usage"]),
        "no_prefill_masking": lambda: not (oc == "error" and m["prefill_rejections"] > 0),
    }[kind]()
    return "pass" if ok else ("info" if check.get("informational") else "fail")


def verdict(scenario: Scenario, checks: list[dict[str, Any]], m: dict[str, Any]) -> tuple[str, str]:
    oc = m["outcome"]
    if oc == "hang":
        return "fail", "hang"
    if oc == "success" and not m["complete"] and scenario.ideal == "success":
        return "fail", "truncated answer presented as success"
    required = [ch["kind"] for ch in checks if ch["status"] == "fail" and ch["severity"] != ADVISORY]
    if required:
        return "fail", "failed: " + ", ".join(required)
    advisory = [ch["kind"] for ch in checks if ch["status"] == "fail" and ch["severity"] == ADVISORY]
    rescued = (oc == "success" and m["complete"]) if scenario.ideal == "success" else oc == "error"
    if scenario.ideal == "error" and oc == "success":
        return "partial", "answered by routing around the rejection"
    if rescued:
        return ("partial", "advisory: " + ", ".join(advisory)) if advisory else ("pass", "rescued")
    return "safe", f"clean error: {type(m.get('error')).__name__}"


def run_scenario(wall: Wall, scenario: Scenario, *, asynchronous: bool = False, **pool: Any) -> Outcome:
    wall.reset()
    scenario.setup(wall, scenario.primary)
    config = bench_config(wall, scenario.primary, scenario.fallback, **pool)
    client = client_for(wall, config, asynchronous=asynchronous)
    result = call(client)
    m = metrics_of(scenario, wall, result)
    m["error"] = result.error
    alive = call(
        client_for(wall, config, asynchronous=asynchronous) if asynchronous else client,
        stream=False,
        model=FALLBACK,
    )
    m["alive_after"] = alive.ok and norm(alive.content) == norm(CANONICAL)
    checks = [{**ch, "status": evaluate(ch, m, scenario.fallback)} for ch in scenario.checks]
    outcome = Outcome(scenario, result, m, checks, *verdict(scenario, checks, m), client=client)
    wall.primary.recover()
    if not asynchronous:
        client.close()
    return outcome


def run_flap(wall: Wall, *, count: int = 20, interval_s: float = 4.0, down_s: float = 60.0) -> dict[str, Any]:
    """S15: the primary answers 503 for ``down_s`` after reset, then is healthy; one request every
    ``interval_s``. Simulated time (an injected clock): the figures are in scenario seconds."""
    primary = "fb-s15-flap"
    wall.reset()
    now = [1_000_000.0]
    client = client_for(wall, bench_config(wall, primary), clock=lambda: now[0])
    start, items = now[0], []
    wall.primary.set_outage(Fault.status(503), model=primary)
    for i in range(count):
        now[0] = start + i * interval_s
        if now[0] - start >= down_s:
            wall.primary.recover()
        before = len(wall.log)
        began = time.monotonic()
        result = call(client)
        sent = [e["model"] for e in wall.log[before:]]
        items.append(
            {
                "t": now[0] - start,
                "ok": result.ok and norm(result.content) == norm(CANONICAL),
                "model": result.model,
                "primary_attempts": sent.count(primary),
                "elapsed_s": time.monotonic() - began,
            }
        )
    client.close()
    during = [it for it in items if it["t"] < down_s]
    back = [it["t"] for it in items if it["t"] >= down_s and it["model"] == primary]
    return {
        "items": items,
        "hangs": sum(1 for it in items if it["elapsed_s"] > 30),
        "served_during_outage": sum(1 for it in during if it["ok"]),
        "requests_during_outage": len(during),
        "primary_attempts_during_outage": sum(it["primary_attempts"] for it in during),
        "recovered_after_s": (min(back) - down_s) if back else None,
        "client": client,
    }
