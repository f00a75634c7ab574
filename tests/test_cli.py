"""The ``modelmesh`` command line: ``--version``, ``status`` and argument errors (exit code 2)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

import modelmesh
from modelmesh.cli import main
from modelmesh.mesh import ModelStatus, PoolStatus
from modelmesh.providers import catalog
from modelmesh.status_view import status_tables


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No provider variables from the machine running the tests."""
    for preset in catalog.presets().values():
        for name in (preset.key_env, preset.base_url_env):
            if name:
                monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    return monkeypatch


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--version"], capsys)
    assert code == 0
    assert out.strip() == f"modelmesh {modelmesh.__version__}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required: COMMAND"),
        (["launch"], "invalid choice: 'launch'"),
        (["demo", "--cooldown", "-1"], "must be > 0"),
        (["demo", "--cooldown", "soon"], "not a number: 'soon'"),
        (["status", "--config", "mesh.yaml", "chat-completion"], "either --config or capabilities"),
        (["status", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2
    assert message in err
    assert "usage: modelmesh" in err
    assert "Traceback" not in out + err


def test_status_of_env_detected_providers(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("OPENAI_API_KEY", "sk-test-openai")
    clean_env.setenv("GROQ_API_KEY", "sk-test-groq")
    code, out, _ = run(["status"], capsys)
    assert code == 0
    assert "pool chat-completion" in out
    assert "openai.gpt-4o" in out
    assert "groq.llama-3.3-70b-versatile" in out
    assert "active providers: openai, groq" in out
    assert "sk-test" not in out


def test_status_for_named_capabilities(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("MISTRAL_API_KEY", "sk-test-mistral")
    code, out, _ = run(["status", "chat-completion", "text-embeddings"], capsys)
    assert code == 0
    assert "pool chat-completion" in out
    assert "pool text-embeddings" in out
    assert "mistral.mistral-embed" in out


def test_status_of_a_config_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = {
        "providers": {"groq": {"api_key": "sk-test-groq"}},
        "pools": {"fast": {"capability": "chat-completion", "strategy": "round-robin"}},
    }
    path = tmp_path / "mesh.json"
    path.write_text(json.dumps(config))
    code, out, _ = run(["status", "--config", str(path)], capsys)
    assert code == 0
    assert "pool fast" in out
    assert "round-robin" in out
    assert "groq.llama-3.1-8b-instant" in out


def test_status_without_any_provider_exits_1(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(["status"], capsys)
    assert code == 1
    assert "No API keys found" in err
    assert out == ""


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "not found"),
        ('{"pools": {"chat": {"retry": {"max_attempts": 0}}}}', "pools.chat.retry.max_attempts"),
    ],
)
def test_status_with_a_bad_config_file_exits_2(
    content: str | None,
    message: str,
    clean_env: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    clean_env.setenv("OPENAI_API_KEY", "sk-test-openai")
    path = tmp_path / "mesh.json"
    if content is not None:
        path.write_text(content)
    code, _, err = run(["status", "--config", str(path)], capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_status_with_an_unknown_capability_exits_2(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clean_env.setenv("OPENAI_API_KEY", "sk-test-openai")
    code, _, err = run(["status", "chat-complection"], capsys)
    assert code == 2
    assert "chat-complection" in err


def test_status_table_shows_standby_reason_and_time_back() -> None:
    status = PoolStatus(
        name="chat",
        active=1,
        standby=1,
        total=2,
        current_model="llama-3.3-70b-versatile",
        strategy="modelmesh.stick-until-failure.v1",
        models=[
            ModelStatus("openai.gpt-4o", "openai", False, "3 consecutive failures (server)", 2.5),
            ModelStatus("groq.llama-3.3-70b-versatile", "groq", True),
        ],
    )
    buffer = io.StringIO()
    console = Console(file=buffer, width=160, color_system=None)
    for table in status_tables({"chat": status}, ["groq"]):
        console.print(table)
    text = buffer.getvalue()
    assert "1/2 active, current llama-3.3-70b-versatile" in text
    assert "standby" in text and "3 consecutive failures (server)" in text and "2.5 s" in text
    assert "groq.llama-3.3-70b-versatile *" in text
    assert "active providers: groq" in text
