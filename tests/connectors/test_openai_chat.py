"""The OpenAI dialect: the request changes only in its model; errors are classified once, here."""

from __future__ import annotations

import json

import pytest
from pydantic import SecretStr

from modelmesh.connectors.base import FailureKind, InboundRequest
from modelmesh.connectors.openai_chat import OpenAIChatConnector, parse_retry_after, replace_multipart_field
from modelmesh.types import Endpoint, ModelSpec, ProviderEndpoint

MODEL = ModelSpec(id="gpt-4o", provider="openai", capabilities=frozenset())
PROVIDER = ProviderEndpoint("openai", "openai.llm.v1", "http://127.0.0.1:9/v1/", SecretStr("sk-abc"))


def sdk_request(body: dict) -> InboundRequest:  # type: ignore[type-arg]
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()  # as the SDK writes it
    return InboundRequest(Endpoint.CHAT, "POST", {}, body, raw)


def test_only_the_model_changes_and_the_url_and_key_are_the_providers() -> None:
    body = {"model": "chat-completion", "messages": [{"role": "user", "content": 'héllo "model":"x"'}]}
    out = OpenAIChatConnector().build_request(sdk_request(body), MODEL, PROVIDER)
    assert out.url == "http://127.0.0.1:9/v1/chat/completions"
    assert out.headers["authorization"] == "Bearer sk-abc"
    assert json.loads(out.content) == {**body, "model": "gpt-4o"}


def test_a_nested_pair_equal_to_the_top_level_one_falls_back_to_reserialising() -> None:
    body = {"model": "chat", "messages": [], "metadata": {"model": "chat"}}
    out = OpenAIChatConnector().build_request(sdk_request(body), MODEL, PROVIDER)
    assert json.loads(out.content) == {**body, "model": "gpt-4o"}  # the nested one is kept


def test_a_body_not_written_by_the_sdk_is_reserialised() -> None:
    body = {"model": "chat", "messages": []}
    request = InboundRequest(Endpoint.CHAT, "POST", {}, body, json.dumps(body).encode())  # ": " separators
    assert (
        json.loads(OpenAIChatConnector().build_request(request, MODEL, PROVIDER).content)["model"] == "gpt-4o"
    )


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (429, {"error": {"message": "slow down", "type": "rate_limit"}}, FailureKind.RATE_LIMITED),
        (401, {"error": {"message": "bad key"}}, FailureKind.AUTH),
        (403, {"error": {"message": "forbidden"}}, FailureKind.AUTH),
        (404, {"error": {"message": "no model", "code": "model_not_found"}}, FailureKind.NOT_FOUND),
        (408, {}, FailureKind.SERVER),
        (500, {}, FailureKind.SERVER),
        (503, {}, FailureKind.SERVER),
        (
            400,
            {"error": {"message": "too long", "code": "context_length_exceeded"}},
            FailureKind.CONTEXT_LENGTH,
        ),
        (
            400,
            {"error": {"message": "refused", "code": "content_policy_violation"}},
            FailureKind.CONTENT_POLICY,
        ),
        (400, {"error": {"message": "bad param"}}, FailureKind.BAD_REQUEST),
        (422, {"error": {"message": "unprocessable"}}, FailureKind.BAD_REQUEST),
    ],
)
def test_errors_are_classified_by_status_and_code(status: int, body: dict, kind: FailureKind) -> None:  # type: ignore[type-arg]
    failure = OpenAIChatConnector().classify(status, {}, json.dumps(body).encode())
    assert failure.kind is kind and failure.status == status
    assert "error" in json.loads(failure.body)


def test_gemini_list_wrapped_errors_and_plain_text_bodies_are_understood() -> None:
    gemini = json.dumps([{"error": {"code": 429, "message": "Resource exhausted"}}]).encode()
    assert OpenAIChatConnector().classify(429, {}, gemini).message == "Resource exhausted"
    assert OpenAIChatConnector().classify(502, {}, b"<html>Bad gateway</html>").kind is FailureKind.SERVER


def test_retry_after_in_seconds_milliseconds_or_http_date() -> None:
    assert parse_retry_after({"retry-after": "2"}) == 2.0
    assert parse_retry_after({"retry-after-ms": "1500"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert parse_retry_after({}) is None


def test_the_model_field_of_a_multipart_upload_is_rewritten() -> None:
    body = (
        b'--XX\r\nContent-Disposition: form-data; name="model"\r\n\r\nspeech-to-text\r\n'
        b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a.mp3"\r\n\r\nRIFF\r\n--XX--\r\n'
    )
    out = replace_multipart_field(body, "multipart/form-data; boundary=XX", "model", "whisper-1")
    assert b"\r\n\r\nwhisper-1\r\n" in out and b"RIFF" in out and b"speech-to-text" not in out
