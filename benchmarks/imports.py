"""Import cost: ``import modelmesh`` + ``from modelmesh import create`` vs ``import openai``.

Each sample is a fresh interpreter that times only its import statements (interpreter start-up is the
same for both and left out, which makes the ratio stricter). ``create`` is resolved because
``import modelmesh`` alone is lazy and would flatter the number.
"""

from __future__ import annotations

import subprocess
import sys

from benchmarks.harness import CaseResult, Sample, alternate

_TIMER = (
    "import time; t, c = time.perf_counter(), time.process_time(); {stmt}; "
    "print(time.perf_counter() - t, time.process_time() - c)"
)
BASELINE = "import openai"
CANDIDATE = "import modelmesh; from modelmesh import create"


def time_import(statement: str) -> Sample:
    out = subprocess.run(
        [sys.executable, "-c", _TIMER.format(stmt=statement)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    wall, cpu = out.strip().splitlines()[-1].split()
    return Sample(float(wall), float(cpu))


def import_case(*, rounds: int) -> CaseResult:
    samples = alternate(lambda: time_import(BASELINE), lambda: time_import(CANDIDATE), rounds=rounds)
    return CaseResult(
        name="import",
        unit="fresh interpreter",
        baseline_label=BASELINE,
        candidate_label=CANDIDATE,
        target=1.5,
        notes={"rounds": rounds},
        **samples,
    )
