"""``audio.transcriptions`` and ``translations`` through the mesh: multipart uploads, model rewritten."""

from __future__ import annotations

import openai
import pytest

from modelmesh.testing import Fault
from tests.endpoints.conftest import resolve

AUDIO = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)) * 4  # binary, with CR/LF bytes inside


async def test_speech_to_text_with_only_an_openai_key(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai")
    client = client_for("speech-to-text", fast=False)
    result = await resolve(
        client.audio.transcriptions.create(
            model="speech-to-text", file=("meeting.wav", AUDIO), language="en", prompt="ModelMesh"
        )
    )
    assert isinstance(result, openai.types.audio.Transcription)
    assert result.text == f"Transcribed {len(AUDIO)} bytes of meeting.wav with gpt-4o-transcribe."
    sent = fakes["openai"].requests[-1]
    assert sent.path == "/v1/audio/transcriptions"
    # The virtual model in the form became the real one; every other field and the file are intact.
    assert sent.form == {
        "model": "gpt-4o-transcribe",
        "file": "meeting.wav",
        "language": "en",
        "prompt": "ModelMesh",
    }
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")


async def test_predefined_pool_and_text_format(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    providers("openai")
    client = client_for(pool="speech-to-text")
    text = await resolve(
        client.audio.transcriptions.create(
            model="speech-to-text", file=("a.mp3", AUDIO), response_format="text"
        )
    )
    assert text.strip() == f"Transcribed {len(AUDIO)} bytes of a.mp3 with gpt-4o-transcribe."


async def test_a_real_model_id_routes_directly(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai")
    client = client_for("speech-to-text")
    result = await resolve(client.audio.transcriptions.create(model="whisper-1", file=("a.wav", AUDIO)))
    assert result.text.endswith("with whisper-1.")
    assert fakes["openai"].requests[-1].form["model"] == "whisper-1"


@pytest.mark.parametrize(
    ("backup", "model"), [("groq", "whisper-large-v3-turbo"), ("together", "openai/whisper-large-v3")]
)
async def test_fails_over_to_another_provider(providers, client_for, backup, model) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai", backup)
    fakes["openai"].set_outage(Fault.status(503))
    client = client_for("speech-to-text")
    raw = await resolve(
        client.audio.transcriptions.with_raw_response.create(model="speech-to-text", file=("call.wav", AUDIO))
    )
    assert raw.parse().text == f"Transcribed {len(AUDIO)} bytes of call.wav with {model}."
    assert raw.headers["x-modelmesh-provider"] == backup
    # The same upload, re-sent whole to the second provider with its own model id.
    assert fakes[backup].requests[-1].form == {"model": model, "file": "call.wav"}


async def test_translations_route_like_transcriptions(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai")
    client = client_for("speech-to-text")
    with pytest.deprecated_call():  # the SDK marks translations deprecated; the endpoint still routes
        call = client.audio.translations.create(model="speech-to-text", file=("fr.wav", AUDIO))
    result = await resolve(call)
    assert result.text.endswith("with gpt-4o-transcribe.")
    assert fakes["openai"].requests[-1].path == "/v1/audio/translations"


async def test_unknown_pool_lists_the_valid_ones(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    providers("openai")
    client = client_for("speech-to-text")
    with pytest.raises(openai.NotFoundError) as caught:
        await resolve(client.audio.transcriptions.create(model="whisper-2", file=("a.wav", AUDIO)))
    assert "Valid pools: speech-to-text" in str(caught.value)
