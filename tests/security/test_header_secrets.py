"""Finding 4: secrets configured as headers or through ``${secrets:}`` are redacted like API keys."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import modelmesh
from modelmesh.testing import FakeProvider, Fault

HEADER_KEY = "azure-CANARY-header-c41f"
RESOLVED = "org-CANARY-resolved-0b9e"


@pytest.fixture
def keyless_fake() -> Iterator[FakeProvider]:
    # api_key="": the fake checks no Authorization, like a gateway that reads its own header.
    with FakeProvider(name="azure", models=["gpt-4o"], api_key="") as fake:
        yield fake


def _config(fake: FakeProvider, events: Path) -> dict[str, Any]:
    return {
        "secrets": {"values": {"org": RESOLVED}},
        "providers": {
            "azure": {
                "base_url": fake.base_url,
                "headers": {"api-key": HEADER_KEY, "OpenAI-Organization": "${secrets:org}"},
                "models": ["gpt-4o"],
            }
        },
        "pools": {"chat": {"capability": "chat-completion", "retry": {"max_attempts": 1}}},
        "observability": {"connector": "modelmesh.file.v1", "path": str(events)},
    }


def test_header_and_resolved_secrets_echoed_by_a_provider_are_redacted(
    keyless_fake: FakeProvider, tmp_path: Path
) -> None:
    events = tmp_path / "events.jsonl"
    keyless_fake.set_outage(Fault.status(401, message=f"bad key {HEADER_KEY} for org {RESOLVED}"))
    client = modelmesh.create(config=_config(keyless_fake, events))
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="chat", messages=[{"role": "user", "content": "hi"}])
    client.close()
    seen = [str(caught.value), json.dumps(caught.value.body), events.read_text()]
    for text in seen:
        assert HEADER_KEY not in text
        assert RESOLVED not in text
    assert "[redacted]" in seen[0]
