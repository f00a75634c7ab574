"""Provider-level health and panic mode (pure: fake clock).

A refused connection or a silent endpoint is evidence against the provider, not one model: its other
models are skipped for the rest of the request and for the next ones until the cooldown ends. When every
model is benched for failures, the run routes to them anyway (panic mode) instead of refusing at once.
"""

from __future__ import annotations

from modelmesh.connectors.base import FailureKind
from modelmesh.routing.run import Attempt, Exhausted, RoutingRun
from tests.routing.conftest import chat_request, drive, fail, make_env, make_pool, model


def _silent() -> object:
    return fail(FailureKind.TIMEOUT, suspects_endpoint=True)


def test_a_silent_provider_costs_its_timeout_once_across_requests() -> None:
    models = [model(f"a{i}", provider="a") for i in range(4)] + [model("b1", provider="b")]
    env, pool = make_env(models), make_pool(models, strategy="priority-selection")
    silent = {f"a{i}": [_silent()] * 10 for i in range(4)}
    traces = []
    for _ in range(10):
        trace, final = drive(RoutingRun(env, pool, chat_request()), env, silent)  # type: ignore[arg-type]
        assert isinstance(final, Attempt) and final.model.id == "b1"
        traces.append(trace)
        env.clock.advance(1)
    assert traces[0] == ["a0", "b1"]  # the provider's other models were skipped in that request too
    assert all(trace == ["b1"] for trace in traces[1:])


def test_a_suspected_provider_is_tried_again_after_the_cooldown() -> None:
    models = [model("a0", provider="a"), model("b1", provider="b")]
    env, pool = make_env(models), make_pool(models, strategy="priority-selection")
    drive(RoutingRun(env, pool, chat_request()), env, {"a0": [_silent()]})  # type: ignore[list-item]
    env.clock.advance(pool.config.recovery.cooldown_s + 1)
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, {})
    assert trace == ["a0"]


def test_a_failure_after_content_does_not_suspect_the_endpoint() -> None:
    models = [model("a0", provider="a"), model("a1", provider="a")]
    env = make_env(models)
    pool = make_pool(models, strategy="priority-selection", retry={"max_attempts": 1})
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, {"a0": [fail(FailureKind.CONNECTION)]})
    assert trace == ["a0", "a1"]


def test_when_every_model_is_benched_for_failures_the_run_still_tries_them() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models, deactivation={"failure_threshold": 1})
    for name in ("a", "b"):
        drive(RoutingRun(env, pool, chat_request()), env, {name: [fail(FailureKind.SERVER, 503)]})
    statuses = env.store.read_models(["a.a", "b.b"])
    assert all(not s.is_active(env.clock()) for s in statuses.values())
    trace, final = drive(RoutingRun(env, pool, chat_request()), env, {})
    assert len(trace) == 1 and isinstance(final, Attempt)
    assert any(e["event"] == "panic" for e in env.observer.events)


def test_panic_mode_prefers_the_best_recent_record() -> None:
    models = [model("a"), model("b")]
    env, pool = make_env(models), make_pool(models)
    for key, recent in (("a.a", [True, False, False, False]), ("b.b", [True, True, False, False])):

        def bench(state, recent=recent):  # type: ignore[no-untyped-def]
            state.recent, state.standby_cause = list(recent), "failures"
            state.standby_until, state.standby_reason = env.clock() + 60, "3 consecutive failures"

        env.store.update_model(key, bench)
    trace, _ = drive(RoutingRun(env, pool, chat_request()), env, {})
    assert trace == ["b"]


def test_panic_mode_never_uses_a_provider_disabled_for_auth() -> None:
    models = [model("a")]
    env, pool = make_env(models), make_pool(models)
    drive(RoutingRun(env, pool, chat_request()), env, {"a": [fail(FailureKind.AUTH, 401)]})
    trace, final = drive(RoutingRun(env, pool, chat_request()), env, {})
    assert trace == [] and isinstance(final, Exhausted) and final.status == 503
