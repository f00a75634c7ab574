"""A caller that goes away mid-run (its task cancelled, a proxy client hanging up) cancels the run: the
request is reported as cancelled and a recovery probe the run held is given back at once."""

from __future__ import annotations

import asyncio
from typing import Any

from modelmesh import create_async
from modelmesh.testing import FakeProvider, Fault
from tests.routing.conftest import RecordingObserver

HELLO = [{"role": "user", "content": "Hello!"}]


async def test_a_cancelled_request_is_reported_and_gives_its_probe_back(openai_fake: FakeProvider) -> None:
    openai_fake.reset()
    openai_fake.set_outage(Fault.latency(5))
    providers = {
        "openai": {"api_key": openai_fake.api_key, "base_url": openai_fake.base_url, "models": ["gpt-4o"]}
    }
    config = {"providers": providers, "pools": {"chat-completion": {"capability": "chat-completion"}}}
    async with create_async(config=config) as client:
        mesh = client.mesh
        recorder = RecordingObserver()
        mesh.observer = recorder
        now = mesh.clock()

        def half_open(state: Any) -> None:  # back from a cooldown: the next request is its probe
            state.standby_until, state.standby_reason, state.standby_cause = now - 1, "test", "failures"

        mesh.store.update_model("openai.gpt-4o", half_open)
        task = asyncio.create_task(client.chat.completions.create(model="chat-completion", messages=HELLO))
        await asyncio.sleep(0.3)
        assert mesh.store.read_models(["openai.gpt-4o"])["openai.gpt-4o"].probe_until is not None
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        state = mesh.store.read_models(["openai.gpt-4o"])["openai.gpt-4o"]
    openai_fake.recover()
    assert state.probe_until is None
    outcomes = [e["outcome"] for e in recorder.events if e["event"] == "request"]
    assert outcomes == ["cancelled"]
