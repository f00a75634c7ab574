"""The leak suite: canary keys planted through every way a key enters, then searched for everywhere.

Each way (environment, ``api_keys=``, ``${secrets:}`` from the environment and from a ``.env`` file, a
literal in the config, a ``headers:`` entry, a ``QuickProvider``, a key with a trailing newline) builds
a client over a local fake whose every answer is a 401 that echoes the key, as some providers do. A
request then fails, and the canary, in each of its encodings, must appear in none of: the reprs of
the public objects, the exception (its text, body, response, causes and traceback), the console or
JSONL output, Python logging at DEBUG, pickles, the proxy's replies and logs, ``pool_status()``, the
CLI's status view and the SQLite state file (provider text enters state only through the routing
run's redaction: issue 9, finding 3).
"""

from __future__ import annotations

import io
import json
import logging
import pickle
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai
import pytest
import redis
from rich.console import Console

import modelmesh
from modelmesh.cdk import QuickProvider
from modelmesh.client import MeshClient
from modelmesh.config import MeshConfig
from modelmesh.redaction import encodings
from modelmesh.status_view import status_tables
from modelmesh.testing import FakeProvider, Fault
from tests.state.conftest import RedisServer

WAYS = ["env", "api_keys", "secrets_env", "secrets_dotenv", "literal", "header", "quick_provider", "newline"]


@dataclass
class Planted:
    """One way of giving a key, after a request that failed with a 401 echoing it."""

    way: str
    canary: str
    client: MeshClient
    error: openai.APIStatusError
    tmp: Path
    logs: str
    console: str
    extras: list[Any] = field(default_factory=list)  # objects the way made: a config, a QuickProvider

    @property
    def forms(self) -> list[str]:
        return sorted(encodings(self.canary))

    def assert_absent(self, text: str | bytes, where: str) -> None:
        data = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        found = [form for form in self.forms if form in data]
        assert not found, f"{self.way}: the key leaked into {where}"


def _config_for(
    way: str, fake: FakeProvider, canary: str, tmp: Path, observer: str, storage: dict[str, Any] | None = None
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "pools": {"chat": {"capability": "chat-completion", "retry": {"max_attempts": 1}}},
        "storage": storage or {"store": "modelmesh.sqlite.v1", "path": str(tmp / "state.sqlite3")},
        "observability": {"connector": observer, "path": str(tmp / "events.jsonl")},
    }
    provider: dict[str, Any] = {"base_url": fake.base_url, "models": ["gpt-4o"]}
    if way == "secrets_env":
        provider["api_key"] = "${secrets:LEAK_SUITE_KEY}"
    elif way == "secrets_dotenv":
        (tmp / ".env").write_text(f'LEAK_SUITE_KEY="{canary}"\n')
        config["secrets"] = {"store": "modelmesh.dotenv.v1", "path": str(tmp / ".env")}
        provider["api_key"] = "${secrets:LEAK_SUITE_KEY}"
    elif way == "literal":
        provider["api_key"] = canary
    elif way == "newline":
        provider["api_key"] = f"{canary}\n"
    elif way == "header":
        provider["headers"] = {"x-api-key": canary}
    elif way == "quick_provider":
        provider = {"instance": QuickProvider(fake.base_url, api_key=canary, models=["gpt-4o"])}
    if way not in ("env", "api_keys"):
        config["providers"] = {"openai": provider}
    return config


def _plant(
    way: str,
    observer: str,
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    storage: dict[str, Any] | None = None,
) -> Iterator[Planted]:
    canary = f"sk-CANARY-{way}-{uuid.uuid4().hex[:12]}"
    # A header key is the gateway's business: the fake then checks no Authorization (api_key="").
    with FakeProvider(name="openai", models=["gpt-4o"], api_key="" if way == "header" else canary) as fake:
        fake.set_outage(Fault.status(401, message=f"Incorrect API key provided: {canary}"))
        monkeypatch.setenv("LEAK_SUITE_KEY", canary)
        if way in ("env", "api_keys"):
            monkeypatch.setenv("OPENAI_BASE_URL", fake.base_url)
        if way == "env":
            monkeypatch.setenv("OPENAI_API_KEY", canary)
        config = _config_for(way, fake, canary, tmp, observer, storage)
        api_keys = {"openai": canary} if way == "api_keys" else None
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.DEBUG)
        log_stream = io.StringIO()
        handler = logging.StreamHandler(log_stream)
        handler.setLevel(logging.DEBUG)
        root.addHandler(handler)
        try:
            client = modelmesh.create(config=config, api_keys=api_keys)
            with pytest.raises(openai.APIStatusError) as caught:
                client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
            extras: list[Any] = [MeshConfig.load(config, resolve_secrets=False)]
            if way == "quick_provider":
                extras.append(config["providers"]["openai"]["instance"])
            console = capsys.readouterr().err
            yield Planted(way, canary, client, caught.value, tmp, log_stream.getvalue(), console, extras)
            client.close()
        finally:
            root.removeHandler(handler)
            root.setLevel(level)


@pytest.fixture(params=WAYS)
def planted(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Planted]:
    yield from _plant(request.param, "modelmesh.file.v1", tmp_path, monkeypatch, capsys)


def _exception_texts(error: BaseException) -> list[str]:
    texts = ["".join(traceback.format_exception(error))]
    seen: BaseException | None = error
    while seen is not None:
        texts += [str(seen), repr(seen), repr(seen.args)]
        if isinstance(seen, openai.APIStatusError):
            texts += [json.dumps(seen.body), seen.response.text, repr(dict(seen.response.headers))]
        seen = seen.__cause__ or seen.__context__
    return texts


def test_the_request_failed_because_the_provider_refused_the_key(planted: Planted) -> None:
    # Guards the suite itself: the canary did reach the provider and came back in its error.
    assert planted.error.status_code == 401
    assert "[redacted]" in str(planted.error)


def test_no_key_in_exceptions_their_bodies_causes_and_tracebacks(planted: Planted) -> None:
    for text in _exception_texts(planted.error):
        planted.assert_absent(text, "the exception")


def test_no_key_in_reprs_of_public_objects(planted: Planted) -> None:
    mesh = planted.client.mesh
    objects: list[Any] = [planted.client, mesh, mesh.store, mesh.observer, *planted.extras]
    objects += [*mesh.providers.values(), *mesh.pools.values(), *mesh.models()]
    for item in objects:
        planted.assert_absent(repr(item), f"repr({type(item).__name__})")
        planted.assert_absent(str(item), f"str({type(item).__name__})")


def test_no_key_in_jsonl_events_or_debug_logs(planted: Planted) -> None:
    planted.assert_absent((planted.tmp / "events.jsonl").read_text(), "the JSONL events")
    assert planted.logs  # DEBUG logging was on: the SDK and the HTTP client did log
    planted.assert_absent(planted.logs, "Python logging at DEBUG")


def test_no_key_in_pickles(planted: Planted) -> None:
    for item in [*planted.extras, *planted.client.mesh.providers.values()]:
        planted.assert_absent(pickle.dumps(item), f"a pickle of {type(item).__name__}")


def test_no_key_in_pool_status(planted: Planted) -> None:
    planted.assert_absent(repr(planted.client.pool_status()), "pool_status()")


def test_no_key_in_the_cli_status_view(planted: Planted) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=300, color_system=None)
    for table in status_tables(planted.client.pool_status(), planted.client.active_providers()):
        console.print(table)
    planted.assert_absent(buffer.getvalue(), "modelmesh status")


def test_no_key_in_the_sqlite_state_file(planted: Planted) -> None:
    data = b"".join(path.read_bytes() for path in planted.tmp.glob("state.sqlite3*"))
    planted.assert_absent(data, "the SQLite state file")


@pytest.mark.parametrize("way", ["literal", "header", "newline", "secrets_env"])
def test_no_key_in_the_redis_state(
    way: str,
    redis_server: RedisServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    prefix = f"leak-{uuid.uuid4().hex[:8]}"
    storage = {"store": "modelmesh.redis.v1", "url": redis_server.url, "prefix": prefix}
    for _planted in _plant(way, "modelmesh.file.v1", tmp_path, monkeypatch, capsys, storage):
        pass
    client = redis.Redis.from_url(redis_server.url)
    keys = client.keys(f"{prefix}:*")
    data = b"".join(key + b"=" + (client.get(key) or b"") for key in keys)
    client.close()
    assert keys  # the failure was recorded in Redis
    _planted.assert_absent(data, "the Redis state")


@pytest.mark.parametrize("way", ["literal", "header", "newline"])
def test_no_key_in_console_output(
    way: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for planted in _plant(way, "modelmesh.console.v1", tmp_path, monkeypatch, capsys):
        assert "request failed" in planted.console
        planted.assert_absent(planted.console, "the console output")


def test_the_suite_would_see_a_leak(tmp_path: Path) -> None:
    # The searching itself works: an encoded canary in a plain file is found.
    planted = Planted("probe", "sk-CANARY-probe\n", None, None, tmp_path, "", "")  # type: ignore[arg-type]
    with pytest.raises(AssertionError):
        planted.assert_absent(json.dumps({"m": repr("sk-CANARY-probe\n")}), "a probe")


@pytest.mark.parametrize("way", ["literal", "header", "newline", "secrets_env"])
@pytest.mark.parametrize("stream", [False, True])
def test_no_key_in_proxy_replies_or_logs(
    way: str, stream: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from starlette.testclient import TestClient

    from modelmesh.builder import build_mesh
    from modelmesh.client import build_config
    from modelmesh.serve import create_app

    canary = f"sk-CANARY-proxy-{way}-{uuid.uuid4().hex[:8]}"
    probe = Planted(way, canary, None, None, tmp_path, "", "")  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG)
    with FakeProvider(name="openai", models=["gpt-4o"], api_key="" if way == "header" else canary) as fake:
        fake.set_outage(Fault.status(401, message=f"Incorrect API key provided: {canary}"))
        monkeypatch.setenv("LEAK_SUITE_KEY", canary)
        config = _config_for(way, fake, canary, tmp_path, "modelmesh.null.v1")
        mesh = build_mesh(build_config([], config=config))
        with TestClient(create_app(mesh)) as proxy:
            body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "stream": stream}
            reply = proxy.post("/v1/chat/completions", json=body)
        mesh.close()
    assert reply.status_code >= 400
    probe.assert_absent(reply.text, "a proxy reply")
    probe.assert_absent(repr(dict(reply.headers)), "proxy reply headers")
    probe.assert_absent(caplog.text, "the proxy's logs")
