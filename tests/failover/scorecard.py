"""Print the failoverbench scorecard of ModelMesh over the local wall (the figures in docs/reliability.md).

Run: ``.venv/bin/python -m tests.failover.scorecard`` (add ``--default`` for ``on_interrupt: error``).
"""

from __future__ import annotations

import sys

from modelmesh.testing import FakeProvider
from tests.failover.bench import FALLBACK, NO_PREFILL, Wall, canonical_responder
from tests.failover.scenarios import SCENARIOS, run_flap, run_scenario


def main(argv: list[str]) -> None:
    pool = {"streaming": {"on_interrupt": "error"}} if "--default" in argv else {}
    models = [s.primary for s in SCENARIOS] + ["fb-s15-flap"]
    primary = FakeProvider("primary", models=models, responder=canonical_responder)
    fallback = FakeProvider("fallback", models=[FALLBACK, NO_PREFILL], responder=canonical_responder)
    with primary, fallback:
        wall = Wall(primary, fallback)
        print("| id | verdict | time | primary / fallback attempts | outcome |")
        print("|---|---|---|---|---|")
        for scenario in SCENARIOS:
            o = run_scenario(wall, scenario, **pool)
            m = o.metrics
            what = "complete answer" if m["complete"] else type(o.result.error).__name__
            print(
                f"| {scenario.id} | {o.verdict} | {m['elapsed_s']:.2f} s | "
                f"{m['attempts_primary']} / {m['attempts_fallback']} | {what} |"
            )
        flap = run_flap(wall)
        ok = sum(1 for item in flap["items"] if item["ok"])
        print(
            f"| S15 | {'pass' if ok == len(flap['items']) else 'fail'} | 20 requests 4 s apart (simulated) | "
            f"{flap['primary_attempts_during_outage']} primary attempts during the outage for "
            f"{flap['requests_during_outage']} requests | {flap['served_during_outage']}/"
            f"{flap['requests_during_outage']} served during the outage, primary back "
            f"{flap['recovered_after_s']:+.0f} s after it recovered |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
