"""Fake LLM providers for tests: local HTTP servers speaking the real wire formats, with scripted faults.

Public API (used by ModelMesh's own tests, its notebooks, and users testing their own failover)::

    from modelmesh.testing import FakeProvider, Fault, Reply, fake_providers

    with FakeProvider(name="alpha", models=["alpha-small"], dialect="openai") as fp:
        fp.fail_next(2, Fault.status(429, retry_after=1))
        client = openai.OpenAI(base_url=fp.base_url, api_key=fp.api_key)

Each :class:`FakeProvider` is a uvicorn server on a free port of 127.0.0.1 in a daemon thread (see
``hosting``); the ``openai`` dialect serves models, chat completions (whole and SSE), embeddings,
speech, transcriptions and images under ``/v1``; the ``anthropic`` dialect serves the Messages API.
Answers come from a deterministic, prompt-aware default responder (see ``responder``) unless a
``responder`` callable is given. Faults (see ``faults``) are injected per request.

Importing this package does not import Starlette or uvicorn (its pytest plugin is loaded in every
session); they are imported when the first server starts and need the ``modelmesh[testing]`` extra.
"""

from modelmesh.testing.faults import Fault, FaultSchedule
from modelmesh.testing.provider import FakeProvider, fake_providers
from modelmesh.testing.recording import RecordedRequest
from modelmesh.testing.responder import Reply, Responder, ToolCall, default_responder

__all__ = [
    "FakeProvider",
    "Fault",
    "FaultSchedule",
    "RecordedRequest",
    "Reply",
    "Responder",
    "ToolCall",
    "default_responder",
    "fake_providers",
]
