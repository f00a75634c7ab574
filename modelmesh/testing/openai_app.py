"""The OpenAI-dialect endpoints of a fake provider, under ``/v1``.

``GET /v1/models[/{id}]``, ``POST /v1/chat/completions`` (whole and SSE), ``/v1/embeddings`` (float and
base64), ``/v1/audio/speech`` (bytes streamed in chunks), ``/v1/audio/transcriptions`` and
``/translations`` (multipart), ``/v1/images/generations`` (URL or base64; URLs are served by
``GET /v1/files/images/{name}``). Credentials: ``Authorization: Bearer <api_key>``.
Validation is limited to what changes the answer: a missing ``model`` / ``messages`` / ``input`` is a
400, an unknown model a 404 with code ``model_not_found``.
"""

from __future__ import annotations

import base64
import time
from typing import Any

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from modelmesh.testing import openai_wire as wire
from modelmesh.testing.conversation import read_conversation
from modelmesh.testing.delivery import Outcome
from modelmesh.testing.faults import Fault
from modelmesh.testing.pipeline import Dialect, Endpoint, Payload, ProviderContext

CREATED = 1_700_000_000
EMBEDDING_DIMENSIONS = 8
SPEECH_CHUNK_BYTES = 1024
_AUDIO_TYPES = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
}


def _headers(number: int) -> dict[str, str]:
    return {"x-request-id": f"req_{number:08d}", "openai-processing-ms": "1", "openai-version": "2020-10-01"}


def _error(
    status: int, message: str, number: int, code: str | None = None, param: str | None = None
) -> Outcome:
    body = wire.error_body(message, "invalid_request_error", code, param)
    return Outcome.json(body, status, _headers(number))


def check_auth(headers: Headers, api_key: str) -> Outcome | None:
    if not api_key:
        return None  # api_key="": a keyless local server (Ollama, vLLM, LM Studio) accepts any request
    given = headers.get("authorization", "")
    if given == f"Bearer {api_key}":
        return None
    if not given:
        message = (
            "You didn't provide an API key. You need to provide your API key in an Authorization header."
        )
        return _error(401, message, 0)
    key = given.removeprefix("Bearer ")
    return _error(401, f"Incorrect API key provided: {key[:6]}***.", 0, "invalid_api_key")


def fault_outcome(fault: Fault, number: int) -> Outcome:
    status, body = wire.fault_error(fault)
    headers = _headers(number)
    if fault.retry_after is not None:
        headers["retry-after"] = _seconds(fault.retry_after)
    return Outcome.json(body, status, headers)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def bad_request(message: str, number: int) -> Outcome:
    return _error(400, message, number)


DIALECT = Dialect(check_auth, fault_outcome, bad_request, wire.rate_limit_headers)


class OpenAIEndpoints:
    """The endpoint functions, bound to one provider."""

    def __init__(self, ctx: ProviderContext) -> None:
        self.ctx = ctx

    def _unknown_model(self, payload: Payload) -> Outcome | None:
        if payload.model is None:
            return _error(400, "you must provide a model parameter", payload.number, None, "model")
        if payload.model not in self.ctx.models:
            message = f"The model `{payload.model}` does not exist or you do not have access to it."
            return _error(404, message, payload.number, "model_not_found")
        return None

    def list_models(self, payload: Payload) -> Outcome:
        return Outcome.json(
            wire.models_list(self.ctx.models, self.ctx.name, CREATED), headers=_headers(payload.number)
        )

    def chat(self, payload: Payload) -> Outcome:
        body = payload.json
        refused = self._unknown_model(payload)
        if refused is not None:
            return refused
        assert payload.model is not None
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return _error(400, "'messages' is a required property", payload.number, None, "messages")
        reply = self.ctx.active_responder(body, payload.model)
        prompt_tokens = read_conversation(body).prompt_words
        ids: dict[str, Any] = {
            "completion_id": f"chatcmpl-{self.ctx.name}-{payload.number:06d}",
            "created": int(time.time()),
            "model": payload.model,
            "prompt_tokens": prompt_tokens,
        }
        if not body.get("stream"):
            n = body["n"] if isinstance(body.get("n"), int) else 1
            return Outcome.json(wire.chat_completion(reply, n=n, **ids), headers=_headers(payload.number))
        options = body.get("stream_options") or {}
        include_usage = bool(isinstance(options, dict) and options.get("include_usage"))
        chunks = [wire.sse(c) for c in wire.chat_chunks(reply, include_usage=include_usage, **ids)]
        return Outcome.events([*chunks, wire.DONE], terminator=True, headers=_headers(payload.number))

    def embeddings(self, payload: Payload) -> Outcome:
        refused = self._unknown_model(payload)
        if refused is not None:
            return refused
        assert payload.model is not None
        texts = _embedding_texts(payload.json.get("input"))
        if texts is None:
            return _error(400, "'input' is a required property", payload.number, None, "input")
        dimensions = payload.json.get("dimensions")
        if not isinstance(dimensions, int) or dimensions <= 0:
            dimensions = EMBEDDING_DIMENSIONS
        encoding = "base64" if payload.json.get("encoding_format") == "base64" else "float"
        data = wire.embeddings(texts, model=payload.model, dimensions=dimensions, encoding_format=encoding)
        return Outcome.json(data, headers=_headers(payload.number))

    def speech(self, payload: Payload) -> Outcome:
        refused = self._unknown_model(payload)
        if refused is not None:
            return refused
        text = payload.json.get("input")
        if not isinstance(text, str):
            return _error(400, "'input' is a required property", payload.number, None, "input")
        audio = wire.speech_bytes(f"{payload.model}:{payload.json.get('voice')}:{text}")
        chunks = [audio[i : i + SPEECH_CHUNK_BYTES] for i in range(0, len(audio), SPEECH_CHUNK_BYTES)]
        media = _AUDIO_TYPES.get(str(payload.json.get("response_format", "mp3")), "application/octet-stream")
        return Outcome(chunks=chunks, media_type=media, headers=_headers(payload.number))

    def transcription(self, payload: Payload) -> Outcome:
        refused = self._unknown_model(payload)
        if refused is not None:
            return refused
        if "file" not in payload.files:
            return _error(400, "'file' is a required property", payload.number, None, "file")
        filename, data = payload.files["file"]
        text = f"Transcribed {len(data)} bytes of {filename} with {payload.model}."
        fmt = payload.json.get("response_format", "json")
        headers = _headers(payload.number)
        if fmt in ("text", "srt", "vtt"):
            return Outcome(body=f"{text}\n".encode(), media_type="text/plain; charset=utf-8", headers=headers)
        if fmt == "verbose_json":
            data_out = {
                "task": "transcribe",
                "language": "english",
                "duration": 1.0,
                "text": text,
                "segments": [],
            }
            return Outcome.json(data_out, headers=headers)
        return Outcome.json({"text": text}, headers=headers)

    def images(self, payload: Payload) -> Outcome:
        refused = self._unknown_model(payload)
        if refused is not None:
            return refused
        prompt = payload.json.get("prompt")
        if not isinstance(prompt, str):
            return _error(400, "'prompt' is a required property", payload.number, None, "prompt")
        n = payload.json["n"] if isinstance(payload.json.get("n"), int) else 1
        data: list[dict[str, Any]] = []
        for i in range(max(1, n)):
            name = f"img-{payload.number:06d}-{i}.png"
            if payload.json.get("response_format") == "b64_json":
                encoded = base64.b64encode(wire.png_bytes(f"{prompt}:{i}")).decode()
                data.append({"b64_json": encoded, "revised_prompt": prompt})
            else:
                data.append({"url": f"{self.ctx.host_url}/v1/files/images/{name}", "revised_prompt": prompt})
        return Outcome.json({"created": int(time.time()), "data": data}, headers=_headers(payload.number))

    def retrieve_model(self, payload: Payload) -> Outcome:
        model_id = payload.params.get("model_id", "")
        if model_id not in self.ctx.models:
            message = f"The model `{model_id}` does not exist or you do not have access to it."
            return _error(404, message, payload.number, "model_not_found")
        return Outcome.json(
            wire.model_object(model_id, self.ctx.name, CREATED), headers=_headers(payload.number)
        )


def _embedding_texts(raw: Any) -> list[str] | None:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw:
        if all(isinstance(x, str) for x in raw):
            return list(raw)
        if all(isinstance(x, int) for x in raw):
            return [" ".join(map(str, raw))]
        if all(isinstance(x, list) for x in raw):
            return [" ".join(map(str, x)) for x in raw]
    return None


async def _image_file(request: Request) -> Response:
    return Response(wire.png_bytes(request.path_params["name"]), media_type="image/png")


def routes(ctx: ProviderContext) -> list[Route]:
    ep = OpenAIEndpoints(ctx)

    def make(produce: Any, **kw: Any) -> Endpoint:
        return Endpoint(ctx, DIALECT, produce, **kw)

    return [
        Route("/v1/models", make(ep.list_models, has_model=False), methods=["GET"]),
        Route("/v1/models/{model_id:path}", make(ep.retrieve_model, has_model=False), methods=["GET"]),
        Route("/v1/chat/completions", make(ep.chat), methods=["POST"]),
        Route("/v1/embeddings", make(ep.embeddings), methods=["POST"]),
        Route("/v1/audio/speech", make(ep.speech), methods=["POST"]),
        Route("/v1/audio/transcriptions", make(ep.transcription, form=True), methods=["POST"]),
        Route("/v1/audio/translations", make(ep.transcription, form=True), methods=["POST"]),
        Route("/v1/images/generations", make(ep.images), methods=["POST"]),
        Route("/v1/files/images/{name}", _image_file, methods=["GET"]),
    ]
