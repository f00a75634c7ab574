"""The routing run: retry on the same model, failover, deactivation, deadlines, caller errors."""

from __future__ import annotations

import json

import pytest

from modelmesh.connectors.base import FailureKind
from modelmesh.routing.run import Attempt, Exhausted, RoutingRun
from tests.routing.conftest import chat_request, drive, fail, make_env, make_pool, model


def test_success_on_first_model_makes_one_attempt() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models)
    trace, final = drive(RoutingRun(env, pool, chat_request()), env, {})
    assert trace == ["a"]
    assert isinstance(final, Attempt) and final.model.id == "a"


def test_server_error_is_retried_on_same_model_with_backoff_then_fails_over() -> None:
    models = [model("a"), model("b")]
    env, pool = (
        make_env(models),
        make_pool(models, retry={"max_attempts": 2, "jitter": False, "backoff_base_s": 0.5}),
    )
    outcomes = {"a": [fail(FailureKind.SERVER, 503), fail(FailureKind.SERVER, 503)]}
    trace, final = drive(RoutingRun(env, pool, chat_request()), env, outcomes)
    assert trace == ["a", "wait:0.5", "a", "b"]
    assert final.model.id == "b"


def test_backoff_grows_exponentially_and_is_capped() -> None:
    models = [model("a")]
    env = make_env(models)
    pool = make_pool(
        models,
        retry={"max_attempts": 5, "jitter": False, "backoff_base_s": 1, "backoff_max_s": 3},
        deactivation={"failure_threshold": 10},
    )
    outcomes = {"a": [fail(FailureKind.SERVER, 500)] * 4}
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, outcomes)
    assert trace == ["a", "wait:1", "a", "wait:2", "a", "wait:3", "a", "wait:3", "a"]


def test_jittered_backoff_stays_within_the_exponential_ceiling() -> None:
    models = [model("a")]
    env = make_env(models)
    pool = make_pool(
        models, retry={"max_attempts": 3, "backoff_base_s": 1}, deactivation={"failure_threshold": 9}
    )
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, {"a": [fail(FailureKind.SERVER, 502)] * 2})
    waits = [float(t.split(":")[1]) for t in trace if t.startswith("wait:")]
    assert len(waits) == 2 and 0 <= waits[0] <= 1 and 0 <= waits[1] <= 2


def test_retry_after_is_honoured_when_no_other_model_is_ready() -> None:
    models = [model("a")]
    env, pool = make_env(models), make_pool(models)
    trace, final = drive(
        RoutingRun(env, pool, chat_request()),
        env,
        {"a": [fail(FailureKind.RATE_LIMITED, 429, retry_after=1.5)]},
    )
    assert trace == ["a", "wait:1.5", "a"]
    assert isinstance(final, Attempt)


def test_rate_limited_model_is_skipped_for_a_ready_alternative_and_backs_off() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models)
    trace, _ = drive(
        RoutingRun(env, pool, chat_request()),
        env,
        {"a": [fail(FailureKind.RATE_LIMITED, 429, retry_after=20)]},
    )
    assert trace == ["a", "b"]
    state = env.store.read_models(["a.a"])["a.a"]
    assert state.not_before == pytest.approx(1_000_000.01 + 20)  # from when the 429 was seen
    # the next request goes straight to b while a is backing off, without deactivating a
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, {})
    assert trace == ["b"]
    assert state.standby_until is None


def test_retry_after_longer_than_allowed_fails_over_instead_of_waiting() -> None:
    models = [model("a")]
    env, pool = make_env(models), make_pool(models, retry={"max_retry_after_s": 5})
    trace, final = drive(
        RoutingRun(env, pool, chat_request()),
        env,
        {"a": [fail(FailureKind.RATE_LIMITED, 429, retry_after=60)]},
    )
    assert trace == ["a"]
    assert isinstance(final, Exhausted) and final.status == 429


def test_caller_errors_are_returned_without_retry_or_failover() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models)
    trace, final = drive(
        RoutingRun(env, pool, chat_request()), env, {"a": [fail(FailureKind.BAD_REQUEST, 400)]}
    )
    assert trace == ["a"]
    assert isinstance(final, Exhausted) and final.status == 400


def test_content_policy_refusal_is_returned_as_it_is() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models)
    trace, final = drive(
        RoutingRun(env, pool, chat_request()), env, {"a": [fail(FailureKind.CONTENT_POLICY, 400)]}
    )
    assert trace == ["a"] and final.kind is FailureKind.CONTENT_POLICY


def test_auth_failure_disables_every_model_of_the_provider() -> None:
    models = [model("a1", "acme"), model("a2", "acme"), model("b")]
    env, pool = make_env(models), make_pool(models)
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, {"a1": [fail(FailureKind.AUTH, 401)]})
    assert trace == ["a1", "b"]  # a2 shares the provider: skipped
    assert not env.store.read_provider("acme").is_active(env.clock.now)


def test_not_found_deactivates_the_model_at_once() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models)
    drive(RoutingRun(env, pool, chat_request()), env, {"a": [fail(FailureKind.NOT_FOUND, 404)]})
    state = env.store.read_models(["a.a"])["a.a"]
    assert state.standby_until is not None and state.standby_reason == "HTTP 404"


def test_consecutive_failures_deactivate_and_cooldown_recovers_half_open() -> None:
    models = [model("a"), model("b")]
    env = make_env(models)
    pool = make_pool(
        models, retry={"max_attempts": 1}, deactivation={"failure_threshold": 2}, recovery={"cooldown_s": 30}
    )
    for _ in range(2):
        drive(RoutingRun(env, pool, chat_request()), env, {"a": [fail(FailureKind.SERVER, 500)]})
    assert not env.store.read_models(["a.a"])["a.a"].is_active(env.clock.now)
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, {})
    assert trace == ["b"]
    env.clock.advance(31)
    # stick-until-failure: the recovered model does not take traffic back
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, {})
    assert trace == ["b"]
    # half-open: one failure of the recovered model sends it straight back to standby
    drive(
        RoutingRun(
            env,
            pool,
            chat_request(),
        ),
        env,
        {"b": [fail(FailureKind.SERVER, 500)], "a": [fail(FailureKind.SERVER, 500)]},
    )
    assert not env.store.read_models(["a.a"])["a.a"].is_active(env.clock.now)


def test_error_rate_deactivation() -> None:
    models = [model("a")]
    env = make_env(models)
    pool = make_pool(
        models,
        retry={"max_attempts": 1},
        deactivation={"failure_threshold": 100, "error_rate": 0.75, "window": 4},
    )
    outcomes = [
        None,
        fail(FailureKind.SERVER, 500),
        fail(FailureKind.SERVER, 500),
        fail(FailureKind.SERVER, 500),
    ]
    for number, outcome in enumerate(outcomes, start=1):
        drive(RoutingRun(env, pool, chat_request()), env, {"a": [outcome]})
        state = env.store.read_models(["a.a"])["a.a"]
        assert state.is_active(env.clock.now) == (number < 4)  # 1/2 and 2/3 failed stay under 75%
    assert "error rate 75%" in (state.standby_reason or "")


def test_overall_deadline_stops_retries() -> None:
    models = [model("a")]
    env = make_env(models)
    pool = make_pool(
        models,
        retry={"max_attempts": 10, "jitter": False, "backoff_base_s": 4},
        deactivation={"failure_threshold": 100},
        timeouts={"total_s": 10},
    )
    trace, final = drive(
        RoutingRun(env, pool, chat_request()), env, {"a": [fail(FailureKind.SERVER, 503)] * 10}
    )
    assert trace == ["a", "wait:4", "a"]  # the next 8 s wait would cross the 10 s deadline
    assert isinstance(final, Exhausted) and final.status == 503


def test_all_models_in_standby_gives_503_naming_each_and_when_it_returns() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models, recovery={"cooldown_s": 60})
    for key in ("a.a", "b.b"):
        env.store.update_model(
            key,
            lambda s: (setattr(s, "standby_until", env.clock.now + 60), setattr(s, "standby_reason", "test")),
        )
    trace, final = drive(RoutingRun(env, pool, chat_request()), env, {})
    assert trace == [] and final.status == 503
    message = json.loads(final.body)["error"]["message"]
    assert "a.a, b.b: standby, test (back in 60s)" in message  # one reason, said once


def test_exhausted_error_body_lists_every_attempt_and_redacts_keys() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models, retry={"max_attempts": 1})
    leaky = fail(FailureKind.SERVER, 500)
    leaky = type(leaky)(
        leaky.kind,
        "bad key sk-key-b",
        status=500,
        body=b'{"error": {"message": "Incorrect API key sk-key-b", "type": "x"}}',
    )
    _, final = drive(
        RoutingRun(env, pool, chat_request()), env, {"a": [fail(FailureKind.SERVER, 500)], "b": [leaky]}
    )
    body = json.loads(final.body)
    assert [a["model"] for a in body["error"]["attempts"]] == ["a.a", "b.b"]
    assert b"sk-key-b" not in final.body


def test_requests_only_go_to_models_that_support_them() -> None:
    models = [model("plain", features=frozenset({"system_prompt"})), model("tools")]
    env, pool = make_env(models), make_pool(models)
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    trace, _ = drive(RoutingRun(env, pool, chat_request(tools=tools)), env, {})
    assert trace == ["tools"]


def test_no_capable_model_names_the_missing_requirement() -> None:
    models = [model("plain", features=frozenset({"system_prompt"}))]
    env, pool = make_env(models), make_pool(models)
    run = RoutingRun(env, pool, chat_request(response_format={"type": "json_schema", "json_schema": {}}))
    _, final = drive(run, env, {})
    assert final.status == 400
    assert "structured_output" in json.loads(final.body)["error"]["message"]


def test_context_length_error_moves_to_a_larger_context_model() -> None:
    models = [
        model("small", context_window=8_000),
        model("tiny", context_window=4_000),
        model("large", context_window=128_000),
    ]
    env, pool = make_env(models), make_pool(models)
    trace, final = drive(
        RoutingRun(env, pool, chat_request()), env, {"small": [fail(FailureKind.CONTEXT_LENGTH, 400)]}
    )
    assert trace == ["small", "large"]
    assert final.model.id == "large"


def test_observer_sees_decision_attempts_failover_and_deactivation() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models)
    drive(RoutingRun(env, pool, chat_request()), env, {"a": [fail(FailureKind.AUTH, 401)]})
    kinds = [e["event"] for e in env.observer.events]
    assert kinds == ["decision", "attempt", "deactivation", "failover", "attempt"]
