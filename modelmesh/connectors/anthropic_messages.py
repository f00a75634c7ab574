"""The native Anthropic Messages dialect (``anthropic.claude.v1``) behind the OpenAI Chat Completions shape.

Owns the connector: the ``POST {base}/v1/messages`` request (URL, API version, key and provider
headers), Claude's whole message turned back into a ``chat.completion`` body, and the connector's clock
handed to the stream translator and to error classification. The translation rules live beside it, one
job each: ``anthropic_request`` (the body: system prompt, role alternation, images, tools and tool
results, tool choice, stop sequences, sampling), ``anthropic_stream`` (the stream half) and
``anthropic_errors`` (error responses -> routing failures with OpenAI-shaped bodies). Their public names
are re-exported here, the import path the registry and users know.

Deliberately not here: I/O, retries, model choice, and every non-chat endpoint (``UnsupportedRequest``).
Thinking, citations, server tools and prompt caching beyond passing ``cache_control`` on text parts are
not translated. OpenAI-only parameters (seed, penalties, logprobs, logit_bias, n=1, ...) are dropped.

Structured output (``response_format``) is emulated with a forced tool: a tool named after the schema
whose ``input_schema`` is the schema, and the model's ``tool_use`` comes back as JSON message content.
Anthropic's native ``output_config.format`` exists only on Claude 4.5-generation models, and the
catalogue's ``structured_output`` feature says "can serve the request", not "has the native API"; the
forced tool works on every Claude model with tool use. ``json_object`` uses the same tool with an open
object schema.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

from modelmesh.connectors.anthropic_errors import classify_error
from modelmesh.connectors.anthropic_request import (
    DEFAULT_MAX_TOKENS,
    messages_body,
    messages_url,
    structured_tool_name,
)
from modelmesh.connectors.anthropic_stream import (
    STREAM_ERROR_STATUS,
    AnthropicStreamError,
    AnthropicStreamTranslator,
    finish_reason,
    openai_usage,
)
from modelmesh.connectors.base import (
    ConnectorError,
    Failure,
    FailureKind,
    InboundRequest,
    OutboundRequest,
    UnsupportedRequest,
)
from modelmesh.types import Endpoint, ModelSpec, ProviderEndpoint

__all__ = [
    "API_VERSION",
    "DEFAULT_MAX_TOKENS",
    "AnthropicMessagesConnector",
    "AnthropicStreamError",
    "AnthropicStreamTranslator",
    "messages_body",
    "messages_url",
    "structured_tool_name",
]

API_VERSION = "2023-06-01"


class AnthropicMessagesConnector:
    """``anthropic.claude.v1``: Claude's Messages API spoken under the OpenAI SDK. Stateless."""

    passthrough = False

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def build_request(
        self, request: InboundRequest, model: ModelSpec, provider: ProviderEndpoint
    ) -> OutboundRequest:
        if request.endpoint is not Endpoint.CHAT:
            raise UnsupportedRequest(
                f"the Anthropic Messages dialect serves chat only, not {request.endpoint.value!r}; "
                f"route this endpoint to a pool without {provider.name!r} ({model.key})"
            )
        if request.body is None:
            raise UnsupportedRequest("a chat request needs a JSON body")
        headers = {"anthropic-version": API_VERSION, "content-type": "application/json"}
        if provider.api_key is not None:
            headers["x-api-key"] = provider.api_key.get_secret_value()
        headers.update(provider.headers)
        body = messages_body(request.body, model)
        return OutboundRequest("POST", messages_url(provider.base_url), headers, json.dumps(body).encode())

    def translate_response(self, request: InboundRequest, model: ModelSpec, body: bytes) -> bytes:
        message = json.loads(body)
        if not isinstance(message, dict) or message.get("type") == "error" or "content" not in message:
            raise ConnectorError(self._not_an_answer(message))
        structured = structured_tool_name(request.body or {})
        texts: list[str] = []
        calls: list[dict[str, Any]] = []
        structured_json: str | None = None
        for block in message.get("content") or []:
            if block.get("type") == "text":
                texts.append(str(block.get("text") or ""))
            elif block.get("type") == "tool_use" and block.get("name") == structured:
                structured_json = json.dumps(block.get("input") or {})
            elif block.get("type") == "tool_use":
                arguments = json.dumps(block.get("input") or {})
                function = {"name": block.get("name"), "arguments": arguments}
                calls.append({"id": block.get("id"), "type": "function", "function": function})
        content = structured_json if structured_json is not None else ("".join(texts) or None)
        reply: dict[str, Any] = {"role": "assistant", "content": content}
        if calls:
            reply["tool_calls"] = calls
        choice = {
            "index": 0,
            "message": reply,
            "finish_reason": finish_reason(message.get("stop_reason"), has_tool_calls=bool(calls)),
            "logprobs": None,
        }
        completion = {
            "id": message.get("id") or "",
            "object": "chat.completion",
            "created": int(self._clock()),
            "model": message.get("model") or model.id,
            "choices": [choice],
            "usage": openai_usage(message.get("usage") or {}),
        }
        return json.dumps(completion).encode()

    def stream_translator(self, request: InboundRequest, model: ModelSpec) -> AnthropicStreamTranslator:
        body = request.body or {}
        options = body.get("stream_options") or {}
        return AnthropicStreamTranslator(
            model_id=model.id,
            created=int(self._clock()),
            include_usage=bool(options.get("include_usage")),
            structured_tool=structured_tool_name(body),
            classify=self.classify,
        )

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Failure:
        return classify_error(status, headers, body, now=self._clock())

    def _not_an_answer(self, message: Any) -> Failure:
        """A 2xx body that is an error object or has no content: the provider failed, whatever its status."""
        error = message.get("error") if isinstance(message, dict) else None
        if isinstance(error, dict):
            status = STREAM_ERROR_STATUS.get(str(error.get("type")), 502)
            return self.classify(status, {}, json.dumps(message).encode())
        return Failure(FailureKind.SERVER, "the provider answered 2xx without a message", status=None)
