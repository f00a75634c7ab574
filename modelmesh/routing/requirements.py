"""What a request needs from a model (features, delivery, context), derived from the OpenAI body."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelmesh.connectors.base import InboundRequest
from modelmesh.types import Endpoint, ModelSpec

_IMAGE_PARTS = frozenset({"image_url", "input_image"})
_WHY = {
    "tool_calling": "the request has tools",
    "structured_output": "the request asks for a json_schema response_format",
    "json_mode": "the request asks for a json_object response_format",
    "vision": "the request has image inputs",
}


@dataclass(frozen=True, slots=True)
class Requirements:
    features: frozenset[str] = frozenset()
    streaming: bool = False
    prompt_tokens: int | None = None  # rough upper estimate, None when unknown (e.g. images)

    def unmet(self, model: ModelSpec) -> str | None:
        """Why ``model`` cannot serve this request, or None when it can."""
        missing = self.features - model.features
        if missing:
            feature = sorted(missing)[0]
            return f"{feature} ({_WHY.get(feature, 'required by the request')})"
        if self.streaming and "streaming" not in model.delivery:
            return "streaming (the request has stream=True)"
        if self.prompt_tokens and model.context_window and self.prompt_tokens > model.context_window:
            return f"a context window of {self.prompt_tokens}+ tokens (the prompt is ~{self.prompt_tokens})"
        return None

    def with_min_context(self, tokens: int) -> Requirements:
        return Requirements(self.features, self.streaming, max(tokens, self.prompt_tokens or 0))


def requirements_of(request: InboundRequest) -> Requirements:
    body = request.body
    if request.endpoint is not Endpoint.CHAT or body is None:
        return Requirements()
    features: set[str] = set()
    if body.get("tools") or body.get("functions"):
        features.add("tool_calling")
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            features.add("structured_output")
        elif kind == "json_object":
            features.add("json_mode")
    if _has_images(body.get("messages")):
        features.add("vision")
    # ~4 bytes per token over-estimates text; images make the byte count meaningless.
    prompt_tokens = None if "vision" in features else len(request.raw) // 4
    return Requirements(frozenset(features), bool(body.get("stream")), prompt_tokens)


def _has_images(messages: Any) -> bool:
    if not isinstance(messages, list):
        return False
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") in _IMAGE_PARTS:
                    return True
    return False
