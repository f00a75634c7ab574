"""Routing conduct added for the failover bench: timeouts, Retry-After patience, half-open probes,
quota standby and the prefill continuation of a broken stream (pure: fake clock, seeded RNG)."""

from __future__ import annotations

import json

from modelmesh.connectors.base import Failure, FailureKind
from modelmesh.quotas import Limit, QuotaBook
from modelmesh.routing.run import Attempt, Exhausted, RoutingRun
from tests.routing.conftest import chat_request, drive, fail, make_env, make_pool, model

PREFILL = frozenset({"system_prompt", "assistant_prefill"})


def test_a_timeout_moves_on_instead_of_retrying_the_silent_model() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models)
    trace, final = drive(RoutingRun(env, pool, chat_request()), env, {"a": [fail(FailureKind.TIMEOUT)]})
    assert trace == ["a", "b"] and isinstance(final, Attempt)


def test_timeouts_are_retried_when_the_pool_says_so() -> None:
    models = [model("a"), model("b")]
    env = make_env(models)
    pool = make_pool(models, retry={"retry_timeouts": True, "jitter": False, "backoff_base_s": 0.1})
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, {"a": [fail(FailureKind.TIMEOUT)]})
    assert trace == ["a", "wait:0.1", "a"]


def test_a_short_retry_after_is_waited_out_on_the_same_model_within_patience() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models, retry={"patience_s": 2.5})
    outcomes = {"a": [fail(FailureKind.RATE_LIMITED, 429, retry_after=2)]}
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, outcomes)
    assert trace == ["a", "wait:2", "a"]


def test_a_retry_after_beyond_patience_fails_over_at_once() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models, retry={"patience_s": 2.5})
    outcomes = {"a": [fail(FailureKind.RATE_LIMITED, 429, retry_after=5)]}
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, outcomes)
    assert trace == ["a", "b"]


def _open_circuit(env, pool) -> None:  # type: ignore[no-untyped-def]
    outcomes = {"a": [fail(FailureKind.SERVER, 503)] * 3}
    for _ in range(2):
        drive(RoutingRun(env, pool, chat_request()), env, outcomes)
    assert env.store.read_models(["a.a"])["a.a"].standby_until is not None


def test_a_half_open_model_takes_one_probe_at_a_time() -> None:
    models = [model("a"), model("b")]
    env = make_env(models)
    pool = make_pool(
        models,
        "priority-selection",
        model_priority=["a"],
        retry={"max_attempts": 2},
        recovery={"cooldown_s": 60},
    )
    _open_circuit(env, pool)
    env.clock.advance(61)
    first, second = RoutingRun(env, pool, chat_request()), RoutingRun(env, pool, chat_request())
    probe, other = first.next_step(), second.next_step()
    assert isinstance(probe, Attempt) and probe.model.id == "a"  # the probe
    assert isinstance(other, Attempt) and other.model.id == "b"  # concurrent traffic stays away
    first.succeeded(probe, {})
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, {})
    assert trace == ["a"]  # the circuit closed; priority takes the traffic back


def test_a_failed_probe_sends_the_model_back_for_a_whole_cooldown() -> None:
    models = [model("a"), model("b")]
    env = make_env(models)
    pool = make_pool(models, "priority-selection", model_priority=["a"], recovery={"cooldown_s": 60})
    _open_circuit(env, pool)
    env.clock.advance(61)
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, {"a": [fail(FailureKind.SERVER, 503)]})
    assert trace == ["a", "b"]  # one probe, then straight to b
    env.clock.advance(30)
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, {})
    assert trace == ["b"]


def test_a_model_out_of_quota_is_skipped_and_all_out_gives_a_429_with_retry_after() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models)
    per_minute = (Limit("requests", 1, "minute", "utc-midnight"),)
    env.quotas = QuotaBook(models={"a.a": per_minute, "b.b": per_minute})
    env.clock.now = 1_000_040.0  # 20 s into a minute
    assert drive(RoutingRun(env, pool, chat_request()), env, {})[0] == ["a"]
    assert drive(RoutingRun(env, pool, chat_request()), env, {})[0] == ["b"]
    trace, final = drive(RoutingRun(env, pool, chat_request()), env, {})
    assert trace == [] and isinstance(final, Exhausted) and final.status == 429
    assert 30 <= float(final.headers["retry-after"]) <= 41
    assert "1 requests per minute" in json.loads(final.body)["error"]["message"]


def _broken_stream(models, **streaming):  # type: ignore[no-untyped-def]
    env = make_env(models)
    pool = make_pool(models, streaming=streaming)
    run = RoutingRun(env, pool, chat_request(stream=True))
    attempt = run.next_step()
    assert isinstance(attempt, Attempt)
    run.succeeded(attempt, {})
    return env, run, attempt


def test_by_default_a_broken_stream_is_not_resumed() -> None:
    env, run, attempt = _broken_stream([model("a", features=PREFILL), model("b", features=PREFILL)])
    assert not run.interrupted(attempt, Failure(FailureKind.STREAM_BROKEN, "cut"), "Hello wor", True)
    assert env.store.read_models(["a.a"])["a.a"].consecutive_failures == 1


def test_a_broken_stream_is_resumed_by_prefill_on_a_model_that_supports_it() -> None:
    models = [model("a", features=PREFILL), model("b"), model("c", features=PREFILL)]
    _, run, attempt = _broken_stream(models, on_interrupt="continue")
    assert run.interrupted(attempt, Failure(FailureKind.STREAM_BROKEN, "cut"), "Hello wor", True)
    step = run.next_step()
    assert isinstance(step, Attempt) and step.model.id == "c"  # b cannot take a prefill; a broke: last
    body = json.loads(step.connector.build_request(run.request, step.model, step.provider).content)
    assert body["messages"][-1] == {"role": "assistant", "content": "Hello wor"}
    assert len(body["messages"]) == 2  # the original turn and the prefill, no hidden instruction


def test_a_prefill_rejection_moves_on_and_never_becomes_the_answer() -> None:
    models = [model("a", features=PREFILL), model("c", features=PREFILL)]
    _, run, attempt = _broken_stream(models, on_interrupt="continue")
    run.interrupted(attempt, Failure(FailureKind.STREAM_BROKEN, "cut"), "Hello", True)
    step = run.next_step()
    assert isinstance(step, Attempt) and step.model.id == "c"
    run.failed(step, fail(FailureKind.BAD_REQUEST, 400))
    step = run.next_step()
    assert isinstance(step, Attempt) and step.model.id == "a"  # the broken model itself, last


def test_no_model_with_prefill_ends_the_continuation() -> None:
    _, run, attempt = _broken_stream([model("a"), model("b")], on_interrupt="continue")
    assert run.interrupted(attempt, Failure(FailureKind.STREAM_BROKEN, "cut"), "Hello", True)
    assert isinstance(run.next_step(), Exhausted)


def test_continuations_are_bounded() -> None:
    models = [model("a", features=PREFILL), model("b", features=PREFILL)]
    _, run, attempt = _broken_stream(models, on_interrupt="continue", max_continuations=1)
    assert run.interrupted(attempt, Failure(FailureKind.STREAM_BROKEN, "cut"), "Hel", True)
    step = run.next_step()
    run.succeeded(step, {})
    assert not run.interrupted(step, Failure(FailureKind.STREAM_BROKEN, "cut"), "Hello", True)
