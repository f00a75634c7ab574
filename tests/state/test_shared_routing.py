"""The stores wired into routing end to end: standby, cooldowns and quota counters survive a restart
(SQLite: two meshes on one file, and a real second process); Redis shares them between processes
within one request; Redis going away leaves routing on local state, and it says so."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from modelmesh import create
from modelmesh.testing import FakeProvider, Fault
from tests.state.conftest import RedisServer

HELLO = [{"role": "user", "content": "Hello!"}]
ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import json, sys
from modelmesh import create
client = create(config=json.load(open(sys.argv[1])))
for _ in range(int(sys.argv[2])):
    client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
client.close()
"""


def shared_config(
    openai_fake: FakeProvider, groq_fake: FakeProvider, storage: dict[str, Any]
) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {
                "api_key": openai_fake.api_key,
                "base_url": openai_fake.base_url,
                "models": ["gpt-4o"],
            },
            "groq": {
                "api_key": groq_fake.api_key,
                "base_url": groq_fake.base_url,
                "models": ["llama-3.3-70b-versatile"],
                "quota": {"models": {"llama-3.3-70b-versatile": [{"requests": 3, "per": "day"}]}},
            },
        },
        "pools": {
            "chat": {
                "capability": "chat-completion",
                "retry": {"max_attempts": 1},
                "deactivation": {"failure_threshold": 1},
                "recovery": {"cooldown_s": 600},
            }
        },
        "storage": storage,
    }


def run_child(tmp_path: Path, config: dict[str, Any], requests: int) -> None:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, str(script), str(path), str(requests)],
        env=env,
        timeout=60,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-2000:]


def model_status(client: Any, key: str) -> Any:
    return next(m for m in client.pool_status()["chat"].models if m.model == key)


def test_two_meshes_on_one_sqlite_file_share_standby_and_quota(fakes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes
    config = shared_config(openai_fake, groq_fake, {"store": "sqlite", "path": str(tmp_path / "state.db")})
    openai_fake.set_outage(Fault.status(503))
    first = create(config=config)
    assert first.chat.completions.create(model="chat", messages=HELLO).model == "llama-3.3-70b-versatile"
    openai_fake.recover()
    second = create(config=config)  # e.g. the process restarted
    assert not model_status(second, "openai.gpt-4o").active
    assert second.chat.completions.create(model="chat", messages=HELLO).model == "llama-3.3-70b-versatile"
    assert openai_fake.calls() == 1  # the standby written by the first mesh kept the second away
    state = second.mesh.store.read_models(["groq.llama-3.3-70b-versatile"])["groq.llama-3.3-70b-versatile"]
    assert sum(used for _, used in next(iter(state.quota.values()))) == 2
    first.close()
    second.close()


def test_standby_and_quota_counters_survive_a_real_process_restart(fakes, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    openai_fake, groq_fake = fakes
    config = shared_config(openai_fake, groq_fake, {"store": "sqlite", "path": str(tmp_path / "state.db")})
    openai_fake.set_outage(Fault.status(503))
    run_child(tmp_path, config, requests=3)  # gpt-4o fails once and rests; groq spends its 3 requests
    openai_fake.recover()
    client = create(config=config)
    gpt, llama = model_status(client, "openai.gpt-4o"), model_status(client, "groq.llama-3.3-70b-versatile")
    assert (
        not gpt.active
        and "consecutive failures" in (gpt.reason or "")
        and gpt.back_in_s
        and gpt.back_in_s > 500
    )
    assert not llama.active and "3 requests per day" in (llama.reason or "")
    with pytest.raises(Exception, match="No active model in pool 'chat'"):
        client.chat.completions.create(model="chat", messages=HELLO)
    client.close()


def test_redis_shares_a_deactivation_between_processes_within_one_request(
    fakes,
    tmp_path: Path,
    redis_server: RedisServer,
    prefix: str,  # type: ignore[no-untyped-def]
) -> None:
    openai_fake, groq_fake = fakes
    config = shared_config(
        openai_fake, groq_fake, {"store": "redis", "url": redis_server.url, "prefix": prefix}
    )
    client = create(config=config)
    assert client.chat.completions.create(model="chat", messages=HELLO).model == "gpt-4o"
    openai_fake.set_outage(Fault.status(503))
    run_child(tmp_path, config, requests=1)  # the other process sees gpt-4o fail and rests it
    openai_fake.recover()
    calls = openai_fake.calls()
    assert client.chat.completions.create(model="chat", messages=HELLO).model == "llama-3.3-70b-versatile"
    assert openai_fake.calls() == calls  # this process never retried the model the other one rested
    client.close()


def test_routing_carries_on_when_redis_goes_away_and_says_so(
    fakes,
    own_redis: RedisServer,
    prefix: str,
    caplog: pytest.LogCaptureFixture,  # type: ignore[no-untyped-def]
) -> None:
    openai_fake, groq_fake = fakes
    client = create(
        config=shared_config(
            openai_fake, groq_fake, {"store": "redis", "url": own_redis.url, "prefix": prefix}
        )
    )
    events: list[dict[str, Any]] = []
    client.mesh.observer = type("Recorder", (), {"enabled": True, "emit": lambda self, e: events.append(e)})()
    assert client.chat.completions.create(model="chat", messages=HELLO).model == "gpt-4o"
    own_redis.stop()
    with caplog.at_level(logging.WARNING, logger="modelmesh.state"):
        assert client.chat.completions.create(model="chat", messages=HELLO).model == "gpt-4o"
        openai_fake.set_outage(Fault.status(503))
        assert client.chat.completions.create(model="chat", messages=HELLO).model == "llama-3.3-70b-versatile"
        openai_fake.recover()
    assert "routing on local state" in caplog.text
    status = client.pool_status()["chat"]
    assert status.state_degraded and not model_status(client, "openai.gpt-4o").active  # local state kept
    assert client.chat.completions.create(model="chat", messages=HELLO).model == "llama-3.3-70b-versatile"
    assert any(e.get("event") == "state" and e["degraded"] for e in events)
    client.close()
