"""``modelmesh serve`` over real HTTP: the real OpenAI SDK against the proxy against two fake providers.

Each test runs the app under a real uvicorn server (lifespan on, as ``serve()`` runs it) in a thread on
a free port of 127.0.0.1, stopped at the end of the test so mesh state never leaks between tests.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from modelmesh.builder import build_mesh
from modelmesh.cli import main
from modelmesh.client import build_config
from modelmesh.serve import create_app
from modelmesh.testing import FakeProvider, Fault
from modelmesh.testing.openai_wire import speech_bytes
from tests.serve.conftest import FAST_POOL, HELLO, KEY, Proxy, chat, mesh_config


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_chat_is_answered_by_the_real_model(client: openai.OpenAI, stream: bool) -> None:
    model, text = chat(client, stream)
    assert model == "gpt-4o"  # the pool name went in, the answering model comes back
    assert text


def test_routing_headers_reach_the_client(client: openai.OpenAI) -> None:
    raw = client.chat.completions.with_raw_response.create(model="chat-completion", messages=HELLO)
    assert raw.headers["x-modelmesh-pool"] == "chat-completion"
    assert raw.headers["x-modelmesh-provider"] == "openai"
    assert raw.headers.get_list("date") == [raw.headers["date"]]  # uvicorn's, not twice


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_an_outage_fails_over_to_the_other_provider(
    proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider], stream: bool
) -> None:
    fakes[0].set_outage(Fault.status(503))
    server = proxy()
    with server.client() as client:
        model, text = chat(client, stream)
    assert (model, bool(text)) == ("llama-3.3-70b-versatile", True)
    assert fakes[0].calls() >= 1
    health = httpx2.get(f"http://127.0.0.1:{server.port}/health").json()
    assert health["status"] == "ok"
    assert health["pools"]["chat-completion"] == {
        "active": 1,
        "standby": 1,
        "total": 2,
        "current_model": "llama-3.3-70b-versatile",
    }


def test_embeddings_are_routed(client: openai.OpenAI) -> None:
    response = client.embeddings.create(model="embeddings", input=["a", "b"])
    assert response.model == "text-embedding-3-small"
    assert [d.index for d in response.data] == [0, 1]


def test_speech_is_relayed_as_it_is_made(client: openai.OpenAI) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="text-to-speech", voice="alloy", input="Hello there"
    ) as response:
        audio = b"".join(response.iter_bytes())
    assert response.headers["x-modelmesh-model"] == "tts-1"
    assert response.headers.get("content-length") is None  # streamed, not buffered by the proxy
    assert audio == speech_bytes("tts-1:alloy:Hello there")


def test_models_list_shows_the_real_models(client: openai.OpenAI) -> None:
    ids = {model.id for model in client.models.list()}
    assert {"gpt-4o", "llama-3.3-70b-versatile", "text-embedding-3-small"} <= ids


def test_an_unknown_pool_is_not_found_listing_the_pools(client: openai.OpenAI) -> None:
    with pytest.raises(
        openai.NotFoundError, match="Valid pools: chat-completion, embeddings, text-to-speech"
    ):
        client.chat.completions.create(model="no-such-pool", messages=HELLO)


def test_all_providers_failing_raise_the_real_error_class(
    proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    for fake in fakes:
        fake.set_outage(Fault.status(429))
    server = proxy()
    with server.client() as client, pytest.raises(openai.RateLimitError) as caught:
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    # The mesh already retried: the SDK (max_retries=2 by default) is told not to repeat the run.
    assert caught.value.response.headers["x-should-retry"] == "false"
    health = httpx2.get(f"http://127.0.0.1:{server.port}/health").json()
    assert health["status"] == "degraded" and health["pools"]["chat-completion"]["active"] == 0


def test_a_transport_timeout_is_a_504(proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider]) -> None:
    for fake in fakes:
        fake.set_outage(Fault.latency(2))
    with proxy().client() as client, pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    assert caught.value.status_code == 504
    assert caught.value.body["code"] == "upstream_timeout"  # type: ignore[index]


def test_an_unreachable_provider_is_a_502(proxy: Proxy) -> None:
    with socket.socket() as closed:  # a port nobody listens on once this socket is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    secret = "sk-unreachable-secret"
    config = {
        "providers": {
            "openai": {"api_key": secret, "base_url": f"http://127.0.0.1:{port}/v1", "models": ["gpt-4o"]}
        },
        "pools": {"chat-completion": {"capability": "chat-completion", **FAST_POOL}},
    }
    with proxy(config=config).client() as client, pytest.raises(openai.InternalServerError) as caught:
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_unavailable"  # type: ignore[index]
    assert secret not in caught.value.response.text


def test_a_stream_broken_after_content_ends_with_an_error_event(
    client: openai.OpenAI, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    fakes[0].set_outage(Fault.cut(after_events=2))
    events = client.chat.completions.create(model="chat-completion", messages=HELLO, stream=True)
    with events, pytest.raises(openai.APIError, match="broke after content was delivered") as caught:
        list(events)
    assert caught.value.body["type"] == "stream_interrupted"  # type: ignore[index]


def test_a_client_leaving_mid_stream_closes_the_provider_stream(
    proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider], tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    fakes[0].set_outage(Fault.stall(after_events=2, seconds=5))
    config = mesh_config(*fakes, observability={"connector": "file", "path": str(events)})
    # Timeouts longer than the stall: only the client leaving may end this stream early.
    config["pools"]["chat-completion"]["timeouts"] = {"read_s": 10, "stall_s": 10, "total_s": 20}
    server = proxy(config=config)
    body = {"model": "chat-completion", "messages": HELLO, "stream": True}
    with httpx2.Client() as http, http.stream("POST", f"{server.url}/chat/completions", json=body) as reply:
        assert next(reply.iter_bytes()).startswith(b"data: ")  # content arrived, then the provider stalls
    # The relay is closed (the run reported as interrupted) long before the 5 s stall would end.
    deadline = time.monotonic() + 2
    while '"interrupted"' not in events.read_text():
        assert time.monotonic() < deadline, "the provider stream was not closed"
        time.sleep(0.02)


def test_proxy_auth_requires_the_bearer_key(proxy: Proxy) -> None:
    server = proxy(api_key=KEY)
    with server.client(api_key=KEY) as client:
        assert chat(client, stream=False)[0] == "gpt-4o"
    with server.client(api_key="wrong-key") as client, pytest.raises(openai.AuthenticationError) as caught:
        client.models.list()
    assert KEY not in caught.value.response.text
    missing = httpx2.get(f"{server.url}/models")
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "invalid_api_key"
    assert httpx2.get(f"http://127.0.0.1:{server.port}/health").status_code == 200  # health stays open


def test_without_a_proxy_key_any_client_key_is_accepted(proxy: Proxy) -> None:
    with proxy().client(api_key="anything") as client:
        assert chat(client, stream=False)[0] == "gpt-4o"


def test_create_app_rejects_an_empty_key(fakes: tuple[FakeProvider, FakeProvider]) -> None:
    mesh = build_mesh(build_config([], config=mesh_config(*fakes)))
    with pytest.raises(ValueError, match="empty or blank"):
        create_app(mesh, api_key=" ")
    mesh.close()


def test_health_summarises_every_pool(proxy: Proxy) -> None:
    server = proxy()
    health = httpx2.get(f"http://127.0.0.1:{server.port}/health")
    assert health.status_code == 200
    assert health.json() == {
        "status": "ok",
        "state": "ok",
        "pools": {
            "chat-completion": {"active": 2, "standby": 0, "total": 2, "current_model": "gpt-4o"},
            "embeddings": {"active": 1, "standby": 0, "total": 1, "current_model": "text-embedding-3-small"},
            "text-to-speech": {"active": 1, "standby": 0, "total": 1, "current_model": "tts-1"},
        },
    }


def test_an_unrouted_path_is_an_openai_shaped_404(proxy: Proxy) -> None:
    reply = httpx2.post(f"{proxy().url}/fine_tuning/jobs", json={})
    assert reply.status_code == 404 and reply.json()["error"]["code"] == "unknown_url"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_serve_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["serve", "--help"], capsys)
    assert code == 0
    assert "--api-key" in out and "--port" in out and "MODELMESH_PROXY_KEY" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--port", "http"], "not a TCP port"),
        (["serve", "--port", "70000"], "not a TCP port"),
        (["serve", "--config", "mesh.yaml", "chat-completion"], "either --config or capabilities"),
        (["serve", "--bogus"], "unrecognized arguments: --bogus"),
        (["serve", "--config", "/no/such/mesh.yaml"], "serve:"),
    ],
)
def test_cli_serve_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(argv, capsys)
    assert code == 2
    assert message in err


def test_cli_serve_without_providers_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["serve"], capsys)
    assert code == 1 and err.startswith("modelmesh serve:")


def test_cli_serve_runs_the_proxy_with_the_env_key(
    fakes: tuple[FakeProvider, FakeProvider],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("modelmesh.serve.serve", lambda mesh, **options: calls.append(options))
    monkeypatch.setenv("MODELMESH_PROXY_KEY", KEY)
    code, _, err = run_cli(["serve", "--port", "9099"], capsys)
    assert code == 0
    assert [(c["host"], c["port"], c["settings"].api_keys) for c in calls] == [("127.0.0.1", 9099, (KEY,))]
    assert "proxy auth on" in err and KEY not in err


def test_import_modelmesh_does_not_import_starlette() -> None:
    code = "import sys, modelmesh; assert 'starlette' not in sys.modules and 'uvicorn' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
