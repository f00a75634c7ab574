"""The rebuilt engine's guarantees over HTTP: a stream that only sends keep-alives after its first content,
or a trickled body, ends by the pool's timeouts through the proxy too; a damaged state file keeps the
proxy answering and ``/health`` says degraded (200), not 500."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx2
import openai
import pytest

from modelmesh.testing import FakeProvider
from tests.engine.scripted import Script, ScriptedServer, openai_chunk
from tests.serve.conftest import HELLO, Proxy
from tests.state.test_guarded import damage

TIMEOUTS = {"connect_s": 1, "read_s": 1, "first_token_s": 1, "stall_s": 0.6, "total_s": 1.5}


def one_provider(
    url: str, key: str = "gsk-scripted-1234", model: str = "llama-3.3-70b-versatile", **extra: Any
) -> dict[str, Any]:
    provider = {"api_key": key, "base_url": url, "models": [model]}
    pool = {"capability": "chat-completion", "retry": {"max_attempts": 1}, "timeouts": TIMEOUTS}
    return {"providers": {"groq": provider}, "pools": {"chat-completion": pool}, **extra}


def test_keepalives_after_content_end_the_proxied_stream_by_stall_s(proxy: Proxy) -> None:
    steps: list[bytes | float | None] = [openai_chunk("Hel")] + [b": keep-alive\n\n", 0.1] * 200
    with ScriptedServer(Script.sse(*steps)) as upstream:
        server = proxy(config=one_provider(upstream.base_url))
        started = time.monotonic()
        with server.client() as client, pytest.raises(openai.APIError):
            for _ in client.chat.completions.create(model="chat-completion", messages=HELLO, stream=True):
                pass
    assert time.monotonic() - started < 3.0


def test_a_trickled_body_ends_by_total_s_through_the_proxy(proxy: Proxy) -> None:
    choice = {"index": 0, "message": {"role": "assistant", "content": "slow"}, "finish_reason": "stop"}
    body = json.dumps(
        {"id": "x", "object": "chat.completion", "created": 0, "model": "m", "choices": [choice]}
    )
    steps: list[bytes | float | None] = []
    for byte in body.encode():
        steps += [bytes([byte]), 0.2]
    script = Script(200, {"content-type": "application/json", "content-length": str(len(body))}, steps)
    with ScriptedServer(script) as upstream:
        server = proxy(config=one_provider(upstream.base_url))
        started = time.monotonic()
        with server.client() as client, pytest.raises(openai.APIStatusError) as caught:
            client.chat.completions.create(model="chat-completion", messages=HELLO)
    assert time.monotonic() - started < 4.0
    assert caught.value.status_code == 504


def test_a_damaged_state_file_keeps_the_proxy_answering(
    proxy: Proxy, openai_fake: FakeProvider, tmp_path: Path
) -> None:
    path = tmp_path / "state.sqlite3"
    storage = {"storage": {"store": "modelmesh.sqlite.v1", "path": str(path)}}
    server = proxy(config=one_provider(openai_fake.base_url, openai_fake.api_key, "gpt-4o", **storage))
    with server.client() as client:
        client.chat.completions.create(model="chat-completion", messages=HELLO)
        damage(tmp_path, b"this is not a database" * 512)
        answers = [client.chat.completions.create(model="chat-completion", messages=HELLO) for _ in range(3)]
    server.mesh.store.sync()  # type: ignore[attr-defined]  # the written-behind successes meet the damage now
    health = httpx2.get(f"{server.origin}/health")
    assert [a.choices[0].message.content for a in answers] and all(a.model for a in answers)
    assert health.status_code == 200
    assert health.json()["status"] == "degraded" and health.json()["state"].startswith("degraded")
