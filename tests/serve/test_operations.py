"""Operating the proxy (issue 11, #4): liveness and readiness, Prometheus metrics, JSON access log, CORS."""

from __future__ import annotations

import json
import logging

import httpx2
import openai
import pytest
from prometheus_client.parser import text_string_to_metric_families

from modelmesh.testing import FakeProvider, Fault
from tests.serve.conftest import HELLO, KEY, Proxy, ProxyServer, access_lines, chat

ORIGIN = "https://app.example"


def scrape(server: ProxyServer, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``/metrics`` parsed: (sample name, sorted labels) -> value."""
    reply = httpx2.get(f"{server.origin}/metrics", headers=headers)
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_live_is_always_ok_and_ready_follows_the_pools(
    proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    server = proxy()
    assert httpx2.get(f"{server.origin}/health/live").json() == {"status": "live"}
    assert httpx2.get(f"{server.origin}/health/ready").json() == {"status": "ready"}
    for fake in fakes:
        fake.set_outage(Fault.status(500))
    with server.client() as client, pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    ready = httpx2.get(f"{server.origin}/health/ready")
    assert ready.status_code == 503
    assert ready.json() == {"status": "not_ready", "pools_without_active_model": ["chat-completion"]}
    assert httpx2.get(f"{server.origin}/health/live").status_code == 200  # alive, just not ready


def test_metrics_count_requests_errors_failovers_and_pool_health(
    proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    server = proxy(api_keys=(KEY,))
    auth = {"authorization": f"Bearer {KEY}"}
    before = scrape(server, **auth)
    assert before[("modelmesh_pool_models_active", (("pool", "chat-completion"),))] == 2
    fakes[0].set_outage(Fault.status(503))
    with server.client(api_key=KEY) as client:
        assert chat(client, stream=False)[0] == "llama-3.3-70b-versatile"  # one failover
        chat(client, stream=True)
    httpx2.get(f"{server.url}/models")  # no key: 401
    after = scrape(server, **auth)
    chat_route = ("route", "/v1/chat/completions")
    ok = (("method", "POST"), chat_route, ("status", "200"))
    assert after[("modelmesh_proxy_requests_total", ok)] == 2
    assert after[("modelmesh_proxy_errors_total", (("class", "unauthorized"), ("route", "/v1/models")))] == 1
    assert after[("modelmesh_proxy_failovers_total", (("pool", "chat-completion"),))] >= 1
    assert after[("modelmesh_proxy_attempts_total", (("pool", "chat-completion"),))] >= 3
    assert after[("modelmesh_proxy_request_seconds_count", (chat_route,))] == 2
    assert after[("modelmesh_proxy_first_byte_seconds_count", (chat_route,))] == 2
    assert after[("modelmesh_pool_models_active", (("pool", "chat-completion"),))] == 1
    assert after[("modelmesh_pool_models", (("pool", "chat-completion"),))] == 2
    down = (("model", "openai.gpt-4o"), ("pool", "chat-completion"), ("provider", "openai"))
    assert after[("modelmesh_model_active", down)] == 0


def test_metrics_labels_stay_bounded_whatever_the_paths(proxy: Proxy) -> None:
    server = proxy()
    for n in range(5):
        httpx2.get(f"{server.url}/made-up-{n}")
    samples = scrape(server)
    routes = {
        dict(labels).get("route") for name, labels in samples if name == "modelmesh_proxy_requests_total"
    }
    assert routes == {"other"}  # not one series per client-chosen path


def test_the_json_access_log_has_one_object_per_request(
    proxy: Proxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="modelmesh.serve.access")
    server = proxy(access_log="json")
    with server.client() as client:
        chat(client, stream=False)
    lines = access_lines(caplog, '"path": "/v1/chat/completions"')
    entry = json.loads(next(line for line in lines if "/v1/chat/completions" in line))
    assert entry["method"] == "POST" and entry["status"] == 200 and entry["client"] == "127.0.0.1"
    assert (entry["pool"], entry["model"], entry["attempts"]) == ("chat-completion", "gpt-4o", "1")
    assert entry["duration_ms"] > 0 and entry["time"].endswith("Z")


def test_the_access_log_can_be_off(proxy: Proxy, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="modelmesh.serve.access")
    server = proxy(access_log="off")
    assert httpx2.get(f"{server.url}/models").status_code == 200
    assert not [r for r in caplog.records if r.name == "modelmesh.serve.access"]


def preflight(server: ProxyServer, origin: str) -> httpx2.Response:
    return httpx2.options(
        f"{server.url}/chat/completions",
        headers={
            "origin": origin,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )


def test_cors_preflight_and_requests_from_an_allowed_origin(proxy: Proxy) -> None:
    server = proxy(api_keys=(KEY,), cors_origins=(ORIGIN,))
    allowed = preflight(server, ORIGIN)  # browsers send preflights without credentials
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    refused = preflight(server, "https://evil.example")
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers
    reply = httpx2.post(
        f"{server.url}/chat/completions",
        json={"model": "chat-completion", "messages": HELLO},
        headers={"origin": ORIGIN, "authorization": f"Bearer {KEY}"},
    )
    assert reply.status_code == 200 and reply.headers["access-control-allow-origin"] == ORIGIN
    assert "x-modelmesh-model" in reply.headers["access-control-expose-headers"]


def test_no_cors_by_default(proxy: Proxy) -> None:
    reply = preflight(proxy(), ORIGIN)
    assert "access-control-allow-origin" not in reply.headers


def test_what_the_proxy_route_does_not_take_still_reaches_starlettes_router(proxy: Proxy) -> None:
    """Proxied requests skip the router (``app.ProxiedPath``); the rest must answer as the router does."""
    server = proxy(api_keys=(KEY,))
    refused = httpx2.request("OPTIONS", f"{server.url}/chat/completions")  # no CORS: no preflight
    assert refused.status_code == 405 and "POST" in refused.headers["allow"]
    assert httpx2.get(f"{server.origin}/health/live").status_code == 200  # a named route, no key needed
    assert httpx2.get(f"{server.origin}/metrics").status_code == 401  # a named route behind the key
    unauthorized = httpx2.post(f"{server.url}/chat/completions", json={"model": "chat-completion"})
    assert unauthorized.status_code == 401  # proxied: the key guard is still in front


def test_metrics_count_tokens_and_cost_per_model_and_pool(proxy: Proxy) -> None:
    server = proxy(api_keys=(KEY,))
    auth = {"authorization": f"Bearer {KEY}"}
    with server.client(api_key=KEY) as client:
        answer = client.chat.completions.create(model="chat-completion", messages=HELLO)
        chat(client, stream=True)
    assert answer.usage is not None
    after = scrape(server, **auth)
    model, pool = ("model", "openai.gpt-4o"), ("pool", "chat-completion")
    prompt = after[("modelmesh_model_tokens_total", (("kind", "prompt"), model))]
    completion = after[("modelmesh_model_tokens_total", (("kind", "completion"), model))]
    assert prompt >= answer.usage.prompt_tokens > 0 and completion >= answer.usage.completion_tokens > 0
    assert after[("modelmesh_model_answers_total", (model,))] == 2
    assert after[("modelmesh_model_cost_usd_total", (model,))] > 0  # gpt-4o has a catalogue price
    assert after[("modelmesh_pool_tokens_total", (("kind", "prompt"), pool))] == prompt
    assert (
        after[("modelmesh_pool_cost_usd_total", (pool,))]
        == after[("modelmesh_model_cost_usd_total", (model,))]
    )
