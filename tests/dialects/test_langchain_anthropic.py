"""``langchain_anthropic.ChatAnthropic`` pointed at the proxy's ``/v1/messages``: invoke, stream and tools,
answered by an OpenAI-dialect fake (the Messages API is translated both ways)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelmesh.builder import build_mesh
from modelmesh.client import build_config
from modelmesh.serve import ProxySettings
from modelmesh.testing import FakeProvider
from tests.dialects.conftest import GPT, mesh_config
from tests.serve.conftest import KEY, ProxyServer

langchain_anthropic = pytest.importorskip("langchain_anthropic")


@pytest.fixture
def chat_model(both: tuple[FakeProvider, FakeProvider]) -> Iterator[object]:
    server = ProxyServer(
        build_mesh(build_config([], config=mesh_config(*both, "openai"))), KEY, ProxySettings()
    )
    try:
        yield langchain_anthropic.ChatAnthropic(
            model="chat-completion", base_url=server.origin, api_key=KEY, max_retries=0, max_tokens=200
        )
    finally:
        server.stop()


def test_invoke(chat_model: object) -> None:
    reply = chat_model.invoke("Hi there")  # type: ignore[attr-defined]
    assert reply.content == f"Hello from {GPT}! You said: Hi there"
    assert reply.response_metadata["model"] == GPT


def test_stream(chat_model: object) -> None:
    chunks = list(chat_model.stream("Hi there"))  # type: ignore[attr-defined]
    text = "".join(
        c.content
        if isinstance(c.content, str)
        else "".join(part.get("text", "") for part in c.content if isinstance(part, dict))
        for c in chunks
    )
    assert text == f"Hello from {GPT}! You said: Hi there"
    assert len(chunks) > 2


def test_tools(chat_model: object) -> None:
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    reply = chat_model.bind_tools([get_weather]).invoke("Weather in Paris?")  # type: ignore[attr-defined]
    (call,) = reply.tool_calls
    assert call["name"] == "get_weather" and "city" in call["args"]
