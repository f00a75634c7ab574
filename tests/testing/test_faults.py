"""Fault values and the schedule that hands them to requests."""

from __future__ import annotations

import dataclasses

import pytest

from modelmesh.testing import Fault, FaultSchedule


def test_faults_are_frozen_values() -> None:
    fault = Fault.status(429, retry_after=2)
    assert fault == Fault.status(429, retry_after=2)
    assert fault.is_error
    assert not Fault.latency(0.1).is_error
    with pytest.raises(dataclasses.FrozenInstanceError):
        fault.status_code = 500  # type: ignore[misc]


@pytest.mark.parametrize(
    "build",
    [
        lambda: Fault.status(200),
        lambda: Fault.latency(-1),
        lambda: Fault.stall(-1, 0.1),
        lambda: Fault.cut(-2),
    ],
)
def test_invalid_faults_are_rejected(build: object) -> None:
    with pytest.raises(ValueError):
        build()  # type: ignore[operator]


def test_classmethods_fill_their_fields() -> None:
    assert Fault.stall(2, 0.5) == Fault("stall", after_events=2, seconds=0.5)
    assert Fault.context_length().status_code == 400
    limits = Fault.rate_limit_headers(100, 3, 1000, 10)
    assert (limits.limit_requests, limits.remaining_requests, limits.limit_tokens) == (100, 3, 1000)


def test_fail_next_is_consumed_in_order_then_stops() -> None:
    schedule = FaultSchedule()
    boom = Fault.status(500)
    schedule.fail_next(2, boom)
    assert [schedule.take("m") for _ in range(3)] == [boom, boom, None]


def test_fail_next_for_a_model_leaves_other_models_alone() -> None:
    schedule = FaultSchedule()
    schedule.fail_next(1, Fault.status(503), model="a")
    assert schedule.take("b") is None
    assert schedule.take("a") == Fault.status(503)
    assert schedule.take("a") is None


def test_outage_wins_until_recovery_and_applies_to_listing() -> None:
    schedule = FaultSchedule()
    schedule.fail_next(1, Fault.status(429))
    schedule.set_outage(Fault.status(503))
    assert schedule.take("m") == Fault.status(503)
    assert schedule.take(None) == Fault.status(503)
    schedule.recover()
    assert schedule.take("m") == Fault.status(429)


def test_script_consumes_one_entry_per_model_request_before_fail_next() -> None:
    schedule = FaultSchedule()
    schedule.fail_next(1, Fault.status(500))
    schedule.script([Fault.reset(), None])
    assert schedule.take(None) is None  # model listing does not eat the script
    assert schedule.take("m") == Fault.reset()
    assert schedule.take("m") is None
    assert schedule.take("m") == Fault.status(500)


def test_clear_forgets_everything() -> None:
    schedule = FaultSchedule()
    schedule.fail_next(3, Fault.status(500))
    schedule.set_outage(Fault.reset(), model="m")
    schedule.script([Fault.cut(1)])
    schedule.clear()
    assert schedule.take("m") is None
