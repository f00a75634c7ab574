"""Observability events are typed (one dataclass per kind), read as mappings by every output, and the
events of one request share its ``request_id``."""

from __future__ import annotations

import json

from modelmesh import create
from modelmesh.events import AttemptEvent, DecisionEvent, Event, FailoverEvent, RequestEvent
from modelmesh.testing import FakeProvider, Fault
from tests.conftest import groq_and_openai
from tests.routing.conftest import RecordingObserver

HELLO = [{"role": "user", "content": "Hello!"}]
LLAMA = "llama-3.1-8b-instant"


def test_a_failed_over_request_emits_typed_events_with_one_request_id(
    openai_fake: FakeProvider, groq_fake: FakeProvider
) -> None:
    openai_fake.reset()
    groq_fake.reset()
    groq_fake.fail_next(5, Fault.status(503))
    providers = groq_and_openai(openai_fake, groq_fake)
    pool = {"capability": "chat-completion", "retry": {"max_attempts": 1}}
    client = create(config={"providers": providers, "pools": {"chat-completion": pool}})
    recorder = RecordingObserver()
    client.mesh.observer = recorder
    client.chat.completions.create(model="chat-completion", messages=HELLO)
    client.close()
    groq_fake.reset()
    kinds = [type(e) for e in recorder.events if not isinstance(e, dict)]
    assert all(isinstance(e, Event) for e in recorder.events)
    assert (
        DecisionEvent in kinds and AttemptEvent in kinds and FailoverEvent in kinds and RequestEvent in kinds
    )
    ids = {e["request_id"] for e in recorder.events if "request_id" in e}
    assert len(ids) == 1
    failover = next(e for e in recorder.events if isinstance(e, FailoverEvent))
    assert failover.get("from") == "groq.llama-3.1-8b-instant" and failover["to"] == "openai.gpt-4o"
    request = recorder.events[-1]
    assert request["outcome"] == "ok" and request["endpoint"] == "chat/completions"
    assert json.loads(json.dumps({**request}))["event"] == "request"
