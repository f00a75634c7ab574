"""Closed by default: proxy keys, their validation, non-loopback binds, and keys in URLs (issue 9, #5)."""

from __future__ import annotations

import logging
from typing import Any

import httpx2
import openai
import pytest

from modelmesh.builder import build_mesh
from modelmesh.cli import main
from modelmesh.client import build_config
from modelmesh.serve import ProxySettings, serve
from modelmesh.serve.runner import resolved
from modelmesh.testing import FakeProvider
from tests.serve.conftest import HELLO, Proxy, access_lines, chat, mesh_config

KEY_A, KEY_B = "proxy-key-alpha-1234", "proxy-key-bravo-5678"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def served(fakes: tuple[FakeProvider, FakeProvider], monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What ``modelmesh serve`` would run: the options ``serve()`` is called with (nothing is bound)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("modelmesh.serve.serve", lambda mesh, **options: calls.append(options))
    monkeypatch.delenv("MODELMESH_PROXY_KEY", raising=False)
    return calls


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "proxy.internal"])
def test_a_non_loopback_bind_without_a_key_is_refused(
    host: str, served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["serve", "--host", host], capsys)
    assert code == 2 and served == []
    assert f"refusing to listen on {host} without a proxy API key" in err
    assert "--insecure-no-auth" in err and "Traceback" not in err


def test_insecure_no_auth_lets_the_operator_open_it(
    served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["serve", "--host", "0.0.0.0", "--insecure-no-auth"], capsys)
    assert code == 0 and "proxy auth off" in err
    assert served[0]["insecure_no_auth"] is True and served[0]["settings"].api_keys == ()


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_binds_need_no_key(
    host: str, served: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(["serve", "--host", host], capsys)[0] == 0


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["serve", "--api-key", ""], None),
        (["serve", "--api-key", "   "], None),
        (["serve", "--api-key", KEY_A, "--api-key", " "], None),
        (["serve"], ""),
        (["serve"], "  \n"),
        (["serve"], f"{KEY_A},,{KEY_B}"),
    ],
    ids=["empty-flag", "blank-flag", "one-blank-of-two", "empty-env", "blank-env", "blank-in-env-list"],
)
def test_an_empty_or_blank_key_is_an_error(
    argv: list[str],
    env: str | None,
    served: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if env is not None:
        monkeypatch.setenv("MODELMESH_PROXY_KEY", env)
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and served == []
    assert "empty" in err and "Traceback" not in err


def test_keys_are_stripped_and_several_are_accepted(
    served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELMESH_PROXY_KEY", f" {KEY_A} , {KEY_B}\n")
    code, _, err = run_cli(["serve", "--host", "0.0.0.0"], capsys)
    assert code == 0 and served[0]["settings"].api_keys == (KEY_A, KEY_B)
    assert "2 key(s)" in err and KEY_A not in err and KEY_B not in err
    served.clear()
    code, _, _ = run_cli(["serve", "--api-key", f"{KEY_A}\n", "--api-key", KEY_B], capsys)
    assert code == 0 and served[0]["settings"].api_keys == (KEY_A, KEY_B)  # the flag wins over the env


def test_settings_never_show_their_keys() -> None:
    settings = ProxySettings(api_keys=(KEY_A,))
    assert KEY_A not in repr(settings) and KEY_A not in str(settings)


def test_serve_itself_refuses_an_open_non_loopback_bind(fakes: tuple[FakeProvider, FakeProvider]) -> None:
    mesh = build_mesh(build_config([], config=mesh_config(*fakes)))
    try:
        with pytest.raises(ValueError, match="without a proxy API key"):
            serve(mesh, host="0.0.0.0", port=1)  # refused before anything is bound
    finally:
        mesh.close()


def test_provider_errors_are_redacted_by_default_off_loopback() -> None:
    assert resolved(ProxySettings(), "0.0.0.0", None).redact_provider_errors is True
    assert resolved(ProxySettings(), "127.0.0.1", None).redact_provider_errors is False
    assert (
        resolved(ProxySettings(redact_provider_errors=False), "0.0.0.0", None).redact_provider_errors is False
    )


def test_every_configured_key_is_accepted_over_http(proxy: Proxy) -> None:
    server = proxy(api_keys=(KEY_A, KEY_B))
    for key in (KEY_A, KEY_B):
        with server.client(api_key=key) as client:
            assert chat(client, stream=False)[0] == "gpt-4o"
    for wrong in ("proxy-key-alpha-123", KEY_A + "x", "-", KEY_A.upper()):
        reply = httpx2.post(
            f"{server.url}/chat/completions",
            json={"model": "chat-completion", "messages": HELLO},
            headers={"authorization": f"Bearer {wrong}"},
        )
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "invalid_api_key"
        assert KEY_A not in reply.text and KEY_B not in reply.text


def test_models_and_metrics_need_the_key_too(proxy: Proxy) -> None:
    server = proxy(api_keys=(KEY_A,))
    with server.client(api_key="wrong") as client, pytest.raises(openai.AuthenticationError):
        client.models.list()
    assert httpx2.get(f"{server.origin}/metrics").status_code == 401
    for probe in ("/health", "/health/live", "/health/ready"):  # probes carry no key
        assert httpx2.get(server.origin + probe).status_code == 200


@pytest.mark.parametrize("param", ["api_key", "key", "API_KEY"])
def test_a_key_in_the_query_string_is_refused_and_never_logged(
    proxy: Proxy, param: str, caplog: pytest.LogCaptureFixture
) -> None:
    server = proxy(api_keys=(KEY_A,))
    caplog.set_level(logging.DEBUG)
    # Refused even with the right key in the header: the key in the URL is already exposed.
    reply = httpx2.get(
        f"{server.url}/models?{param}={KEY_B}&x=1", headers={"authorization": f"Bearer {KEY_A}"}
    )
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "api_key_in_url"
    assert KEY_B not in reply.text
    server_side = access_lines(caplog, '"GET /v1/models" 401')
    assert any('"GET /v1/models" 401' in line for line in server_side), server_side
    assert not [line for line in server_side if KEY_B in line or "x=1" in line]


def test_a_path_cannot_forge_access_log_lines(proxy: Proxy, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="modelmesh.serve.access")
    server = proxy()
    forged = '127.0.0.1 "POST /v1/chat/completions" 200 1.0 ms gpt-4o'
    encoded = forged.replace(" ", "%20").replace('"', "%22")
    httpx2.get(f"{server.url}/x%0A{encoded}")
    lines = access_lines(caplog, "/v1/x%0A")
    assert any("/v1/x%0A" in line for line in lines), lines
    assert not any(line.startswith(forged) or "\n" in line for line in lines), lines
