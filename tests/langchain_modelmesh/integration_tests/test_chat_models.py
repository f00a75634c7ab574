"""ChatModelMesh against local fakes: every call path names the real model and the route it took.

Sync and async, whole and streamed calls are parametrised over the same cases through ``ask``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from langchain_modelmesh import ChatModelMesh
from modelmesh.testing import Fault
from tests.langchain_modelmesh.conftest import LangChainFakes

pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

MODES = ["invoke", "ainvoke", "stream", "astream"]


class Joke(BaseModel):
    setup: str
    punchline: str


async def ask(model: Any, mode: str, prompt: Any = "Hello there") -> Any:
    """One call of ``model`` (a chat model or a runnable over one) the way ``mode`` says."""
    if mode == "invoke":
        return model.invoke(prompt)
    if mode == "ainvoke":
        return await model.ainvoke(prompt)
    if mode == "stream":
        chunks = list(model.stream(prompt))
    else:
        chunks = [chunk async for chunk in model.astream(prompt)]
    if chunks and isinstance(chunks[0], BaseMessage):
        total = chunks[0]
        for chunk in chunks[1:]:
            total += chunk
        return total
    return chunks[-1]


@pytest.fixture
async def make_model() -> AsyncIterator[Callable[..., ChatModelMesh]]:
    made: list[ChatModelMesh] = []

    def make(**kwargs: Any) -> ChatModelMesh:
        model = ChatModelMesh(**kwargs)
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


@pytest.mark.parametrize("mode", MODES)
async def test_answers_name_the_real_model_and_the_route(
    make_model: Callable[..., ChatModelMesh], config: dict[str, Any], mode: str
) -> None:
    message = await ask(make_model(config=config, model="chat-completion"), mode)
    assert isinstance(message, AIMessage | AIMessageChunk)
    assert message.content == "Hello from gpt-4o! You said: Hello there"
    assert message.response_metadata["model_name"] == "gpt-4o"
    assert message.response_metadata["modelmesh"] == {
        "pool": "chat-completion",
        "provider": "openai",
        "attempts": 1,
        "failovers": 0,
    }
    assert message.usage_metadata is not None
    assert message.usage_metadata["output_tokens"] == 7


@pytest.mark.parametrize("mode", MODES)
async def test_failover_is_visible_in_the_answer(
    make_model: Callable[..., ChatModelMesh],
    failover_config: dict[str, Any],
    lc_fakes: LangChainFakes,
    mode: str,
) -> None:
    lc_fakes.primary.set_outage(Fault.status(503))
    message = await ask(make_model(config=failover_config, model="chat-completion"), mode)
    assert message.response_metadata["model_name"] == "backup-large"
    facts = message.response_metadata["modelmesh"]
    assert (facts["provider"], facts["attempts"], facts["failovers"]) == ("backup", 2, 1)


async def test_sync_and_async_calls_share_routing_state(
    make_model: Callable[..., ChatModelMesh], failover_config: dict[str, Any], lc_fakes: LangChainFakes
) -> None:
    model = make_model(config=failover_config, model="chat-completion")
    lc_fakes.primary.set_outage(Fault.status(503))
    model.invoke("first")  # gpt-4o fails once and goes on standby; backup answers
    lc_fakes.primary.recover()
    message = await model.ainvoke("second")
    assert message.response_metadata["model_name"] == "gpt-4o-mini"  # gpt-4o skipped: still on standby
    assert model.pool_status().standby == 1


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("method", ["json_schema", "function_calling", "json_mode"])
async def test_structured_output_every_method(
    make_model: Callable[..., ChatModelMesh], config: dict[str, Any], method: str, mode: str
) -> None:
    model = make_model(config=config, model="chat-completion")
    structured = model.with_structured_output(Joke, method=method)
    joke = await ask(structured, mode, "Tell a joke as JSON with 'setup' and 'punchline'.")
    assert isinstance(joke, Joke)


@pytest.mark.parametrize("mode", MODES)
async def test_bound_tools_are_called(
    make_model: Callable[..., ChatModelMesh], config: dict[str, Any], mode: str
) -> None:
    @tool
    def magic_function(input: int) -> int:
        """Apply a magic function to an input."""
        return input + 2

    model = make_model(config=config, model="chat-completion").bind_tools([magic_function])
    message = await ask(model, mode, "What is magic_function(3)?")
    assert [(c["name"], c["args"]) for c in message.tool_calls] == [("magic_function", {"input": 3})]


async def test_batch_and_abatch(make_model: Callable[..., ChatModelMesh], config: dict[str, Any]) -> None:
    model = make_model(config=config, model="chat-completion")
    answers = model.batch(["one", "two"]) + await model.abatch(["three"])
    assert [a.content.rsplit(" ", 1)[1] for a in answers] == ["one", "two", "three"]
    assert all(a.response_metadata["modelmesh"]["pool"] == "chat-completion" for a in answers)


async def test_a_real_model_id_routes_directly(
    make_model: Callable[..., ChatModelMesh], config: dict[str, Any]
) -> None:
    message = make_model(config=config, model="chat-completion").invoke("hi", model="gpt-4o-mini")
    assert message.response_metadata["model_name"] == "gpt-4o-mini"


async def test_an_exhausted_pool_raises_the_sdk_error(
    make_model: Callable[..., ChatModelMesh], config: dict[str, Any], lc_fakes: LangChainFakes
) -> None:
    import openai

    lc_fakes.primary.set_outage(Fault.status(503))
    with pytest.raises(openai.InternalServerError):
        make_model(config=config, model="chat-completion").invoke("hi")


async def test_requests_carry_the_pool_never_the_responses_api(
    make_model: Callable[..., ChatModelMesh], config: dict[str, Any], lc_fakes: LangChainFakes
) -> None:
    make_model(config=config, model="chat-completion", output_version="responses/v1").invoke("hi")
    assert [r.path for r in lc_fakes.primary.requests] == ["/v1/chat/completions"]


def test_use_responses_api_routes_through_the_mesh(fakes) -> None:  # type: ignore[no-untyped-def]
    from langchain_modelmesh import ChatModelMesh

    model = ChatModelMesh("chat-completion", use_responses_api=True)
    reply = model.invoke("Hi there")
    assert "Hi there" in str(reply.content)
    assert reply.response_metadata["model_name"] in ("gpt-4o", "gpt-4o-mini", "llama-3.3-70b-versatile")
