"""The failoverbench catalogue, S01-S16, against the local wall: every scenario passes its checks with
``streaming.on_interrupt: continue``; with the default ``error`` the mid-stream ones end in a clean error
and nothing else changes."""

from __future__ import annotations

import pytest

from modelmesh import StreamInterruptedError
from tests.failover.bench import CANONICAL, FALLBACK, NO_PREFILL, Wall, bench_config, call, client_for, norm
from tests.failover.scenarios import BY_ID, MID_STREAM, SCENARIOS, run_flap, run_scenario

SINGLE = [s.id for s in SCENARIOS]


@pytest.mark.parametrize("scenario", SINGLE)
def test_scenario_passes_its_checks_with_continuation(wall: Wall, scenario: str) -> None:
    outcome = run_scenario(wall, BY_ID[scenario])
    assert outcome.verdict == "pass", (outcome.reason, outcome.checks, wall.log)


@pytest.mark.parametrize("scenario", MID_STREAM)
def test_mid_stream_scenarios_pass_on_the_async_client_too(wall: Wall, scenario: str) -> None:
    outcome = run_scenario(wall, BY_ID[scenario], asynchronous=True)
    assert outcome.verdict == "pass", (outcome.reason, outcome.checks, wall.log)


@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("scenario", MID_STREAM)
def test_by_default_mid_stream_scenarios_end_in_a_clean_error(
    wall: Wall, scenario: str, asynchronous: bool
) -> None:
    outcome = run_scenario(
        wall, BY_ID[scenario], asynchronous=asynchronous, streaming={"on_interrupt": "error"}
    )
    assert outcome.verdict == "safe", (outcome.reason, outcome.checks)
    error = outcome.result.error
    assert isinstance(error, StreamInterruptedError) and error.model == BY_ID[scenario].primary
    assert error.partial_text and CANONICAL.startswith(error.partial_text)
    assert outcome.metrics["attempts_fallback"] == 0 and outcome.metrics["prefill_rejections"] == 0


@pytest.mark.parametrize("scenario", [s for s in SINGLE if s not in MID_STREAM])
def test_by_default_nothing_else_changes(wall: Wall, scenario: str) -> None:
    outcome = run_scenario(wall, BY_ID[scenario], streaming={"on_interrupt": "error"})
    assert outcome.verdict == "pass", (outcome.reason, outcome.checks)


def test_s08_the_caller_gets_one_stitched_stream_with_merged_usage(wall: Wall) -> None:
    outcome = run_scenario(wall, BY_ID["S08"])
    assert norm(outcome.result.content) == norm(CANONICAL)
    # Resumed by an assistant prefill, never by a hidden "continue" prompt.
    assert [e["last_role"] for e in wall.log[:2]] == ["user", "assistant"]
    assert outcome.result.usage["completion_tokens"] == 20  # the fallback generated the last 20 words
    assert outcome.result.model == FALLBACK  # the last chunks name the model that finished the answer
    ledger = outcome.client.usage
    # The stitched stream, and the liveness call after it that names the real model (booked under its pool).
    assert ledger.by_pool["bench"].requests == 2
    assert "primary.fb-s08-stream-cut" not in ledger.by_model  # the broken segment is not billed


def test_s14_no_prefill_ever_reaches_a_model_without_the_feature(wall: Wall) -> None:
    outcome = run_scenario(wall, BY_ID["S14"])
    assert outcome.metrics["attempts_fallback"] == 0 and outcome.metrics["prefill_rejections"] == 0
    assert norm(outcome.result.content) == norm(CANONICAL)  # resumed on the primary itself, which has it


def test_s14_a_model_that_claims_prefill_but_rejects_it_does_not_mask_the_break(wall: Wall) -> None:
    scenario = BY_ID["S14"]
    wall.reset()
    scenario.setup(wall, scenario.primary)
    config = bench_config(wall, scenario.primary, NO_PREFILL)
    config["models"][f"fallback.{NO_PREFILL}"]["features"].append("assistant_prefill")  # a wrong catalogue
    client = client_for(wall, config)
    result = call(client)
    client.close()
    wall.primary.recover()
    assert [e.get("action") for e in wall.log if e["model"] == NO_PREFILL] == ["400 prefill_rejected"]
    assert result.ok and norm(result.content) == norm(CANONICAL)  # the 400 moved it on, to the primary


def test_s15_flap_serves_from_the_fallback_probes_once_per_cooldown_and_returns(wall: Wall) -> None:
    figures = run_flap(wall)
    assert figures["hangs"] == 0
    assert figures["served_during_outage"] == figures["requests_during_outage"] == 15
    assert figures["recovered_after_s"] is not None and figures["recovered_after_s"] <= 30
    assert figures["primary_attempts_during_outage"] <= figures["requests_during_outage"]
    assert all(item["ok"] for item in figures["items"])
