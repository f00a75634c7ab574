"""``python -m benchmarks [--json PATH] [--quick] [--server minimal|fake] [--profile]``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.cases import concurrent_case, pool_case, serve, sync_case
from benchmarks.harness import CaseResult, table
from benchmarks.imports import import_case

CASES = ("sequential", "streaming", "concurrent", "pool", "import")


@dataclass(frozen=True, slots=True)
class Plan:
    """(units per round, timed rounds) per case; a full run stays under two minutes on 2 cores."""

    sequential: tuple[int, int] = (25, 40)
    streaming: tuple[int, int] = (10, 40)
    concurrent: tuple[int, int] = (1, 30)
    pool: tuple[int, int] = (25, 30)
    import_rounds: int = 15


FULL = Plan()
QUICK = Plan(sequential=(20, 4), streaming=(5, 4), concurrent=(1, 4), pool=(20, 4), import_rounds=3)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--json", metavar="PATH", type=Path, help="also write the results as JSON here")
    parser.add_argument("--quick", action="store_true", help="a few rounds only (smoke run, noisy numbers)")
    parser.add_argument(
        "--server",
        choices=("minimal", "fake"),
        default="minimal",
        help="minimal: benchmarks.server in its own process (default); fake: modelmesh.testing.FakeProvider",
    )
    parser.add_argument("--only", choices=CASES, action="append", help="run only this case (repeatable)")
    parser.add_argument("--check", action="store_true", help="exit 1 when a ratio misses its target")
    parser.add_argument(
        "--profile", action="store_true", help="profile the MeshClient path instead of benchmarking"
    )
    return parser.parse_args(argv)


def machine() -> dict[str, Any]:
    import openai

    import modelmesh

    return {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "processor": platform.machine(),
        "openai": openai.__version__,
        "modelmesh": modelmesh.__version__,
    }


def run(args: argparse.Namespace) -> list[CaseResult]:
    plan = QUICK if args.quick else FULL
    wanted = args.only or list(CASES)
    results: list[CaseResult] = []
    with serve(args.server) as server:
        if "sequential" in wanted:
            requests, rounds = plan.sequential
            results.append(_report(sync_case(server, stream=False, requests=requests, rounds=rounds)))
        if "streaming" in wanted:
            requests, rounds = plan.streaming
            results.append(_report(sync_case(server, stream=True, requests=requests, rounds=rounds)))
        if "concurrent" in wanted:
            repeats, rounds = plan.concurrent
            results.append(_report(concurrent_case(server, width=64, repeats=repeats, rounds=rounds)))
        if "pool" in wanted:
            requests, rounds = plan.pool
            results.append(_report(pool_case(server, size=256, requests=requests, rounds=rounds)))
    if "import" in wanted:
        results.append(_report(import_case(rounds=plan.import_rounds)))
    return results


def _report(result: CaseResult) -> CaseResult:
    line = f"  {result.name}: ratio {result.ratio:.3f}x ({result.verdict}), CPU ratio {result.cpu_ratio:.3f}x"
    print(line, file=sys.stderr, flush=True)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.profile:
        from benchmarks.profiling import profile_mesh
        from benchmarks.stages import stage_report

        with serve(args.server) as server:
            print(stage_report(server), flush=True)
            print(profile_mesh(server))
        return 0
    started = time.perf_counter()
    info = machine()
    print(
        f"modelmesh benchmarks: {info['nproc']} CPUs, Python {info['python']}, openai {info['openai']}, "
        f"server={args.server}{' (quick)' if args.quick else ''}",
        file=sys.stderr,
    )
    results = run(args)
    elapsed = time.perf_counter() - started
    print(table(results), flush=True)
    print(f"\n{len(results)} cases in {elapsed:.0f} s; ratio = median of per-round modelmesh/baseline ratios")
    if args.json:
        payload = {
            "command": "python -m benchmarks " + " ".join(sys.argv[1:]),
            "machine": info,
            "server": args.server,
            "quick": args.quick,
            "elapsed_s": round(elapsed, 1),
            "cases": [r.as_dict() for r in results],
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    return 1 if args.check and not all(r.meets_target for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
