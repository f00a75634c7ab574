"""``audio.speech.create`` through the mesh: whole bytes, files, streamed audio, failover."""

from __future__ import annotations

import time
from pathlib import Path

import openai
import pytest

from modelmesh.testing import Fault
from modelmesh.testing.openai_wire import speech_bytes
from tests.endpoints.conftest import resolve

SPEECH = {"model": "text-to-speech", "voice": "alloy", "input": "Hello from the mesh."}


def audio_of(model: str) -> bytes:
    """What the fake speaks for SPEECH with ``model``."""
    return speech_bytes(f"{model}:alloy:{SPEECH['input']}")


async def test_text_to_speech_with_only_an_openai_key(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai")
    client = client_for("text-to-speech", fast=False)
    response = await resolve(client.audio.speech.create(**SPEECH))
    assert response.content == audio_of("tts-1")
    assert response.response.headers["content-type"] == "audio/mpeg"
    assert response.response.headers["x-modelmesh-model"] == "tts-1"
    sent = fakes["openai"].requests[-1]
    assert sent.path == "/v1/audio/speech" and sent.json == {**SPEECH, "model": "tts-1"}


async def test_predefined_text_to_speech_pool_and_response_format(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    providers("openai")
    client = client_for(pool="text-to-speech")
    response = await resolve(
        client.audio.speech.create(**{**SPEECH, "model": "text-to-speech"}, response_format="wav")
    )
    assert response.response.headers["content-type"] == "audio/wav"


def test_stream_to_file_writes_the_audio(providers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from modelmesh import create

    providers("openai")
    client = create("text-to-speech")
    target = tmp_path / "speech.mp3"
    # The SDK deprecates stream_to_file on a whole response in favour of with_streaming_response.
    with pytest.deprecated_call():
        client.audio.speech.create(**SPEECH).stream_to_file(target)
    assert target.read_bytes() == audio_of("tts-1")
    streamed = tmp_path / "streamed.mp3"
    with client.audio.speech.with_streaming_response.create(**SPEECH) as response:
        response.stream_to_file(streamed)
    assert streamed.read_bytes() == audio_of("tts-1")


async def test_async_streaming_response_writes_the_audio(providers, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from modelmesh import create_async

    providers("openai")
    async with create_async("text-to-speech") as client:
        target = tmp_path / "speech.mp3"
        async with client.audio.speech.with_streaming_response.create(**SPEECH) as response:
            await response.stream_to_file(target)
    assert target.read_bytes() == audio_of("tts-1")


def test_streamed_audio_arrives_before_the_provider_has_finished(providers) -> None:  # type: ignore[no-untyped-def]
    from modelmesh import create

    fakes = providers("openai")
    fakes["openai"].fail_next(1, Fault.stall(after_events=1, seconds=0.6))  # pause after the first chunk
    client = create("text-to-speech")
    started = time.monotonic()
    with client.audio.speech.with_streaming_response.create(**SPEECH) as response:
        chunks = response.iter_bytes()
        first = next(chunks)
        first_at = time.monotonic() - started
        rest = b"".join(chunks)
    assert first_at < 0.5 < time.monotonic() - started  # played while the provider was still speaking
    assert first + rest == audio_of("tts-1")


async def test_async_streamed_audio_arrives_before_the_provider_has_finished(providers) -> None:  # type: ignore[no-untyped-def]
    from modelmesh import create_async

    fakes = providers("openai")
    fakes["openai"].fail_next(1, Fault.stall(after_events=1, seconds=0.6))
    async with create_async("text-to-speech") as client:
        started = time.monotonic()
        async with client.audio.speech.with_streaming_response.create(**SPEECH) as response:
            chunks = response.iter_bytes()
            first = await anext(chunks)
            first_at = time.monotonic() - started
            rest = b"".join([chunk async for chunk in chunks])
    assert first_at < 0.5 < time.monotonic() - started
    assert first + rest == audio_of("tts-1")


async def test_fails_over_to_another_provider(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai", "together")
    fakes["openai"].set_outage(Fault.status(502))
    client = client_for("text-to-speech")
    response = await resolve(client.audio.speech.create(**SPEECH))
    assert response.content == audio_of("hexgrad/Kokoro-82M")
    assert response.response.headers["x-modelmesh-provider"] == "together"
    assert fakes["together"].requests[-1].json["model"] == "hexgrad/Kokoro-82M"


async def test_a_refused_request_is_the_callers_error(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai", "together")
    client = client_for("text-to-speech")
    with pytest.raises(openai.BadRequestError):
        await resolve(client.audio.speech.create(model="text-to-speech", voice="alloy", input=None))  # type: ignore[arg-type]
    assert fakes["together"].calls() == 0  # a malformed request is not failed over
