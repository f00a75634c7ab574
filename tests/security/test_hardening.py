"""Finding 10: pickles without keys, escaped provider text, 0600 files, checked URLs and finite numbers."""

from __future__ import annotations

import io
import pickle
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from rich.console import Console

import modelmesh
from modelmesh.cdk import QuickProvider
from modelmesh.config import MeshConfig
from modelmesh.errors import ConfigError
from modelmesh.mesh import ModelStatus, PoolStatus
from modelmesh.observability.console import ConsoleObserver
from modelmesh.observability.jsonl import FileObserver
from modelmesh.state.sqlite import SQLiteStateStore
from modelmesh.status_view import status_tables
from modelmesh.types import ProviderEndpoint

KEY = "sk-CANARY-pickle-88c1"
HEADER_KEY = "hdr-CANARY-pickle-31f7"
HOSTILE = "[bold red]owned[/] \x1b[2J\x1b]0;title\x07 \u202egnp.exe"


# -- pickles -----------------------------------------------------------------------------------------


def test_a_pickled_endpoint_carries_no_key_and_no_credential_header() -> None:
    endpoint = ProviderEndpoint(
        "gw",
        "openai.compatible.v1",
        "https://gw.example/v1",
        SecretStr(KEY),
        {"x-api-key": HEADER_KEY, "OpenAI-Organization": "org-1"},
        timeout_s=5.0,
        max_attempts=2,
    )
    data = pickle.dumps(endpoint)
    assert KEY.encode() not in data and HEADER_KEY.encode() not in data
    restored = pickle.loads(data)
    assert restored.api_key is None
    assert restored.headers == {"OpenAI-Organization": "org-1"}
    assert (restored.name, restored.base_url, restored.timeout_s, restored.max_attempts) == (
        "gw",
        "https://gw.example/v1",
        5.0,
        2,
    )


def test_a_pickled_quick_provider_carries_no_key() -> None:
    provider = QuickProvider("http://127.0.0.1:9", api_key=KEY, models=["m"], headers={"api-key": HEADER_KEY})
    data = pickle.dumps(provider)
    assert KEY.encode() not in data and HEADER_KEY.encode() not in data
    restored = pickle.loads(data)
    assert restored.endpoint("gw").api_key is None
    assert restored.models == ["m"] and restored.base_url == provider.base_url


def test_a_pickled_config_holding_a_literal_header_secret_carries_none() -> None:
    config = MeshConfig.load(
        {"providers": {"gw": {"base_url": "https://gw/v1", "headers": {"api-key": HEADER_KEY}}}}
    )
    assert HEADER_KEY.encode() not in pickle.dumps(config)


# -- terminal output -----------------------------------------------------------------------------------


def test_the_console_observer_escapes_terminal_escapes_in_provider_text() -> None:
    stream = io.StringIO()
    ConsoleObserver(stream=stream).emit(
        {"event": "request", "pool": "chat", "outcome": "failed", "error": HOSTILE}
    )
    text = stream.getvalue()
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert "\\x1b[2J" in text and "[bold red]owned[/]" in text


def test_status_renders_provider_text_literally() -> None:
    status = PoolStatus(
        name="chat[/]",
        active=0,
        standby=1,
        total=1,
        current_model=None,
        strategy="modelmesh.stick-until-failure.v1",
        models=[ModelStatus("gw.m", "gw", False, HOSTILE, 2.5)],
    )
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, color_system=None)
    for table in status_tables({"chat[/]": status}):
        console.print(table)
    text = buffer.getvalue()
    assert "[bold red]owned[/]" in text  # shown as text, not applied as markup
    assert "\x1b" not in text and "\u202e" not in text
    assert "pool chat[/]" in text


# -- files ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_the_sqlite_state_file_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = SQLiteStateStore(path)
    store.update_model("gw.m", lambda state: setattr(state, "standby_reason", "x"))
    for file in tmp_path.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file.name
    store.close()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permissions")
def test_the_jsonl_file_is_created_readable_by_its_owner_only(tmp_path: Path) -> None:
    observer = FileObserver(str(tmp_path / "events.jsonl"))
    observer.emit({"event": "x"})
    observer.close()
    assert stat.S_IMODE((tmp_path / "events.jsonl").stat().st_mode) == 0o600


# -- URLs and numbers -----------------------------------------------------------------------------------


def _provider_config(base_url: str) -> dict[str, Any]:
    return {"providers": {"gw": {"base_url": base_url, "api_key": "sk-x-1234"}}}


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "ftp://gw.example/v1", "gw.example/v1", "javascript:alert(1)"]
)
def test_a_base_url_with_an_unsupported_scheme_is_rejected(url: str) -> None:
    with pytest.raises(ConfigError, match=r"^providers\.gw\.base_url: .*http:// or https://"):
        MeshConfig.load(_provider_config(url))


def test_a_base_url_with_credentials_is_rejected_without_echoing_them() -> None:
    with pytest.raises(ConfigError, match=r"^providers\.gw\.base_url: .*credentials") as caught:
        MeshConfig.load(_provider_config("https://user:pw-CANARY-1@gw.example/v1"))
    assert "CANARY" not in str(caught.value)


def test_a_base_url_from_the_environment_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-x-1234")
    monkeypatch.setenv("OPENAI_BASE_URL", "file:///etc/passwd")
    with pytest.raises(ConfigError, match=r"^providers\.openai\.base_url: "):
        modelmesh.create("chat-completion")


def test_quick_provider_rejects_a_file_url() -> None:
    with pytest.raises(ConfigError, match=r"base_url: .*http:// or https://"):
        QuickProvider("file:///etc", api_key="sk-x-1234", models=["m"]).endpoint("gw")


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan"])
@pytest.mark.parametrize("field", ["timeouts.connect_s", "timeouts.total_s", "recovery.cooldown_s", "ttl"])
def test_non_finite_numbers_are_rejected_naming_the_field(tmp_path: Path, field: str, value: str) -> None:
    section, _, name = field.partition(".")
    body = f"session: {{ttl_s: {value}}}" if field == "ttl" else f"{section}: {{{name}: {value}}}"
    path = tmp_path / "mesh.yaml"
    path.write_text(f"pools:\n  chat:\n    capability: chat-completion\n    {body}\n")
    where = "pools.chat.session.ttl_s" if field == "ttl" else f"pools.chat.{field}"
    with pytest.raises(ConfigError, match=rf"^{where}: must be a finite number"):
        MeshConfig.from_file(path)
