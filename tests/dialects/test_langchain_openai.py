"""``langchain_openai.ChatOpenAI(use_responses_api=True)`` over the mesh transport: LangChain's Responses
path (invoke, stream, tools) routes like chat, here to the Anthropic-dialect fake."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from langchain_openai import ChatOpenAI

from modelmesh.builder import build_mesh
from modelmesh.client import build_config
from modelmesh.testing import FakeProvider
from modelmesh.transport import MeshTransport
from tests.dialects.conftest import CLAUDE, mesh_config


@pytest.fixture
def chat_model(both: tuple[FakeProvider, FakeProvider]) -> Iterator[ChatOpenAI]:
    mesh = build_mesh(build_config([], config=mesh_config(*both, "anthropic")))
    http = httpx2.Client(transport=MeshTransport(mesh))
    try:
        yield ChatOpenAI(
            model="chat-completion",
            api_key="unused",  # type: ignore[arg-type]
            base_url="http://modelmesh.local/v1",
            http_client=http,
            max_retries=0,
            use_responses_api=True,
        )
    finally:
        http.close()
        mesh.close()


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def test_invoke_and_stream(chat_model: ChatOpenAI) -> None:
    reply = chat_model.invoke("Hi there")
    assert text_of(reply.content) == f"Hello from {CLAUDE}! You said: Hi there"
    assert reply.response_metadata["model_name"] == CLAUDE
    chunks = list(chat_model.stream("Hi there"))
    assert "".join(text_of(c.content) for c in chunks) == f"Hello from {CLAUDE}! You said: Hi there"


def test_tools(chat_model: ChatOpenAI) -> None:
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return "sunny"

    reply = chat_model.bind_tools([get_weather]).invoke("Weather in Paris?")
    (call,) = reply.tool_calls
    assert call["name"] == "get_weather" and "city" in call["args"]
