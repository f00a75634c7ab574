"""The seed's pattern: a plain ``ChatOpenAI`` over a ``MeshClient``, without this package's classes.

``ChatOpenAI(client=client.chat.completions, model="chat-completion")`` alone fails with "Missing
credentials" (langchain-openai still builds its own async client, which wants a key); these are the
complete forms that work, documented in docs/langchain.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import openai
import pytest
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from modelmesh import AsyncMeshClient, MeshClient, create
from modelmesh.transport import AsyncMeshTransport, MeshTransport


class Answer(BaseModel):
    answer: str


@pytest.fixture
def client(config: dict[str, Any]) -> Iterator[MeshClient]:
    with create(config=config) as client:
        yield client


def full_client_pattern(client: MeshClient) -> ChatOpenAI:
    twin = AsyncMeshClient(client.mesh)  # same mesh, so the same routing state
    return ChatOpenAI(
        client=client.chat.completions,
        root_client=client,
        async_client=twin.chat.completions,
        root_async_client=twin,
        model="chat-completion",
        stream_usage=True,
    )


def http_client_pattern(client: MeshClient) -> ChatOpenAI:
    return ChatOpenAI(
        http_client=httpx2.Client(transport=MeshTransport(client.mesh)),
        http_async_client=httpx2.AsyncClient(transport=AsyncMeshTransport(client.mesh)),
        api_key="unused",  # the transport answers every request; the SDK only wants a value
        base_url="http://modelmesh.local/v1",
        model="chat-completion",
        max_retries=0,  # the mesh retries and fails over
        stream_usage=True,
    )


PATTERNS = [full_client_pattern, http_client_pattern]


def test_the_seed_line_with_a_key_works_for_invoke_and_stream(client: MeshClient) -> None:
    llm = ChatOpenAI(client=client.chat.completions, model="chat-completion", api_key="unused")
    message = llm.invoke([HumanMessage(content="Explain AI routing.")])
    assert message.response_metadata["model_name"] == "gpt-4o"
    assert "".join(str(c.content) for c in llm.stream("Explain AI routing.")).startswith("Hello from gpt-4o")


def test_the_seed_line_alone_asks_for_credentials(client: MeshClient) -> None:
    with pytest.raises(openai.OpenAIError, match="Missing credentials"):
        ChatOpenAI(client=client.chat.completions, model="chat-completion")


@pytest.mark.parametrize("pattern", PATTERNS)
def test_complete_patterns_invoke_stream_and_structured_output(client: MeshClient, pattern: Any) -> None:
    llm = pattern(client)
    assert llm.invoke("hi").response_metadata["model_name"] == "gpt-4o"
    chunks = list(llm.stream("hi"))
    assert any(c.usage_metadata for c in chunks)
    assert isinstance(llm.with_structured_output(Answer).invoke("Answer as JSON"), Answer)
    llm.root_client.close()


@pytest.mark.parametrize("pattern", PATTERNS)
async def test_complete_patterns_async(client: MeshClient, pattern: Any) -> None:
    llm = pattern(client)
    message = await llm.ainvoke("hi")
    assert message.response_metadata["model_name"] == "gpt-4o"
    text = "".join([str(c.content) async for c in llm.astream("hi")])
    assert text.startswith("Hello from gpt-4o")
    await llm.root_async_client.close()  # its connections belong to this test's event loop
