"""ModelMesh.rotate(): a forced rotation never takes down the only active model of a pool."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from modelmesh import MeshClient, create

HELLO = [{"role": "user", "content": "Hello!"}]


def _client(tmp_path: Path, *models: str) -> MeshClient:
    log = tmp_path / "events.jsonl"
    return create(
        config={
            "pools": {"chat-completion": {"capability": "chat-completion", "models": list(models)}},
            "observability": {"connector": "modelmesh.file.v1", "path": str(log)},
        }
    )


def _rotations(tmp_path: Path, client: MeshClient) -> list[dict[str, Any]]:
    client.mesh.close()
    lines = (tmp_path / "events.jsonl").read_text().splitlines()
    return [e for e in map(json.loads, lines) if e["event"] == "rotation"]


def test_rotating_a_single_model_pool_keeps_the_model_and_says_so(  # type: ignore[no-untyped-def]
    fakes, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = _client(tmp_path, "gpt-4o")
    with caplog.at_level(logging.WARNING, logger="modelmesh"):
        assert client.rotate("chat-completion") == "gpt-4o"
    status = client.pool_status()["chat-completion"]
    assert (status.active, status.standby, status.current_model) == (1, 0, "gpt-4o")
    assert client.chat.completions.create(model="chat-completion", messages=HELLO).model == "gpt-4o"
    warning = [r for r in caplog.records if r.name.startswith("modelmesh")]
    assert len(warning) == 1 and warning[0].levelno == logging.WARNING
    assert "no other active model" in warning[0].getMessage()
    assert "gpt-4o" in warning[0].getMessage()
    (event,) = _rotations(tmp_path, client)
    assert event["from"] == event["to"] == "openai.gpt-4o"
    assert event["rotated"] is False and "no other active model" in event["note"]


def test_rotating_when_the_others_are_on_standby_keeps_the_current_one(fakes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    client = _client(tmp_path, "gpt-4o", "llama-3.3-70b-versatile")
    assert client.rotate("chat-completion") == "llama-3.3-70b-versatile"  # gpt-4o goes on standby
    assert client.rotate("chat-completion") == "llama-3.3-70b-versatile"  # nothing else is active
    status = client.pool_status()["chat-completion"]
    assert (status.active, status.standby, status.current_model) == (1, 1, "llama-3.3-70b-versatile")
    first, second = _rotations(tmp_path, client)
    assert first["rotated"] is True and first["to"] == "groq.llama-3.3-70b-versatile"
    assert second["rotated"] is False and second["from"] == second["to"] == "groq.llama-3.3-70b-versatile"


def test_a_real_rotation_does_not_warn(fakes, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    client = _client(tmp_path, "gpt-4o", "gpt-4o-mini")
    with caplog.at_level(logging.WARNING, logger="modelmesh"):
        assert client.rotate("chat-completion") == "gpt-4o-mini"
    assert not [r for r in caplog.records if r.name.startswith("modelmesh")]
