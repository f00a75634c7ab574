"""The OpenAI-dialect endpoints, driven by the real ``openai`` SDK."""

from __future__ import annotations

import base64
import json
import struct

import httpx2
import openai
import pytest
from pydantic import BaseModel

from modelmesh.testing import FakeProvider
from modelmesh.testing.openai_wire import embedding_vector

USER = [{"role": "user", "content": "What is the value of magic_function(3)? Use the tool."}]
MAGIC_TOOL = {
    "type": "function",
    "function": {
        "name": "magic_function",
        "description": "Applies a magic function to an input.",
        "parameters": {"type": "object", "properties": {"input": {"type": "integer"}}, "required": ["input"]},
    },
}


def test_models_are_listed_and_retrieved(client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [m.id for m in models.data] == ["alpha-small", "alpha-large"]
    assert {m.owned_by for m in models.data} == {"alpha"}
    assert client.models.retrieve("alpha-large").id == "alpha-large"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_chat_completion_is_a_real_chat_completion(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model="alpha-large", messages=[{"role": "user", "content": "hi there"}]
    )
    assert completion.object == "chat.completion"
    assert completion.model == "alpha-large"
    assert completion.choices[0].message.content == "Hello from alpha-large! You said: hi there"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (2, 7)
    assert completion.usage.total_tokens == 9


def test_n_choices(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="alpha-small", messages=USER[:1], n=2)
    assert [c.index for c in completion.choices] == [0, 1]


def test_stream_sends_role_words_finish_usage(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="alpha-small",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks[1:-2]]
    assert pieces == ["Hello", " from", " alpha-small!", " You", " said:", " hi"]
    assert chunks[-2].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 6


def test_raw_stream_ends_with_done(openai_http: httpx2.Client) -> None:
    body = {"model": "alpha-small", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    response = openai_http.post("/v1/chat/completions", json=body)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = [e for e in response.text.split("\n\n") if e]
    assert events[-1] == "data: [DONE]"
    assert json.loads(events[-2].removeprefix("data: "))["choices"][0]["finish_reason"] == "stop"
    assert "usage" not in json.loads(events[0].removeprefix("data: "))


def test_tool_call_non_stream(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(model="alpha-small", messages=USER, tools=[MAGIC_TOOL])
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = (choice.message.tool_calls or [])[0]
    assert call.function.name == "magic_function"
    assert json.loads(call.function.arguments) == {"input": 3}


def test_tool_call_stream_reassembles(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model="alpha-small", messages=USER, tools=[MAGIC_TOOL], tool_choice="required", stream=True
    )
    name, arguments, ids, finish = "", "", [], None
    for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            ids += [delta.id] if delta.id else []
            name += (delta.function.name or "") if delta.function else ""
            arguments += (delta.function.arguments or "") if delta.function else ""
    assert (name, json.loads(arguments), len(ids), finish) == (
        "magic_function",
        {"input": 3},
        1,
        "tool_calls",
    )


class Joke(BaseModel):
    setup: str
    punchline: str


def test_structured_output_parses_into_the_schema(client: openai.OpenAI) -> None:
    completion = client.chat.completions.parse(
        model="alpha-small",
        messages=[{"role": "user", "content": "A joke about 'cats'"}],
        response_format=Joke,
    )
    assert completion.choices[0].message.parsed == Joke(setup="cats", punchline="cats")


def test_unknown_model_is_404_model_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-nope", messages=USER)
    assert caught.value.code == "model_not_found"


def test_missing_messages_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="alpha-small", messages=[])


@pytest.mark.parametrize("key", ["sk-wrong", None])
def test_wrong_or_missing_key_is_401(openai_fake: FakeProvider, key: str | None) -> None:
    headers = {"authorization": f"Bearer {key}"} if key else {}
    with httpx2.Client(base_url=openai_fake.host_url, headers=headers) as http:
        response = http.post("/v1/chat/completions", json={"model": "alpha-small", "messages": USER})
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_request_error"
    with (
        openai.OpenAI(base_url=openai_fake.base_url, api_key="sk-wrong", max_retries=0) as wrong,
        pytest.raises(openai.AuthenticationError),
    ):
        wrong.models.list()


def test_embeddings_default_base64_and_float_agree(client: openai.OpenAI, openai_http: httpx2.Client) -> None:
    sdk = client.embeddings.create(model="alpha-small", input=["a", "b c"])  # the SDK asks for base64
    assert [d.index for d in sdk.data] == [0, 1]
    assert len(sdk.data[0].embedding) == 8
    assert sdk.data[0].embedding == pytest.approx(embedding_vector("a", 8))
    assert sdk.usage.prompt_tokens == 3
    raw = openai_http.post(
        "/v1/embeddings", json={"model": "alpha-small", "input": "a", "encoding_format": "base64"}
    ).json()
    decoded = struct.unpack("<8f", base64.b64decode(raw["data"][0]["embedding"]))
    floats = client.embeddings.create(model="alpha-small", input="a", encoding_format="float")
    assert list(decoded) == floats.data[0].embedding == sdk.data[0].embedding


def test_embeddings_dimensions_and_determinism(client: openai.OpenAI) -> None:
    first = client.embeddings.create(model="alpha-small", input="same", dimensions=32)
    second = client.embeddings.create(model="alpha-small", input="same", dimensions=32)
    assert len(first.data[0].embedding) == 32
    assert first.data[0].embedding == second.data[0].embedding


def test_speech_streams_audio_bytes(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    with client.audio.speech.with_streaming_response.create(
        model="alpha-small", voice="alloy", input="hello"
    ) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        assert "content-length" not in response.headers
        audio = b"".join(response.iter_bytes())
    assert audio.startswith(b"ID3") and len(audio) == 4096
    again = client.audio.speech.create(model="alpha-small", voice="alloy", input="hello")
    assert again.content == audio


def test_transcription_json_and_text(client: openai.OpenAI, openai_fake: FakeProvider) -> None:
    result = client.audio.transcriptions.create(model="alpha-large", file=("clip.mp3", b"12345"))
    assert result.text == "Transcribed 5 bytes of clip.mp3 with alpha-large."
    text = client.audio.transcriptions.create(
        model="alpha-large", file=("clip.mp3", b"12345"), response_format="text"
    )
    assert "Transcribed 5 bytes" in str(text)
    recorded = openai_fake.requests[-1]
    assert recorded.model == "alpha-large"
    assert recorded.form is not None and recorded.form["file"] == "clip.mp3"


def test_images_as_url_and_base64(client: openai.OpenAI) -> None:
    by_url = client.images.generate(model="alpha-small", prompt="a cat", n=2)
    assert by_url.data is not None and len(by_url.data) == 2
    url = by_url.data[0].url or ""
    assert httpx2.get(url).content.startswith(b"\x89PNG")
    inline = client.images.generate(model="alpha-small", prompt="a cat", response_format="b64_json")
    assert inline.data is not None
    assert base64.b64decode(inline.data[0].b64_json or "").startswith(b"\x89PNG")


async def test_async_client_chat_and_stream(openai_fake: FakeProvider) -> None:
    async with openai.AsyncOpenAI(base_url=openai_fake.base_url, api_key=openai_fake.api_key) as aclient:
        completion = await aclient.chat.completions.create(model="alpha-small", messages=USER[:1])
        assert completion.choices[0].message.tool_calls is None
        stream = await aclient.chat.completions.create(model="alpha-small", messages=USER[:1], stream=True)
        text = "".join([c.choices[0].delta.content or "" async for c in stream])
    assert text == completion.choices[0].message.content
