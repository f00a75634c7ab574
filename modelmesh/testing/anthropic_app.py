"""The Anthropic-dialect endpoints of a fake provider (Messages API), under the host root.

``POST /v1/messages`` (whole and SSE), ``POST /v1/messages/count_tokens``, ``GET /v1/models[/{id}]``.
Credentials: ``x-api-key: <api_key>`` plus an ``anthropic-version`` header (missing: 400), as the
real API demands. Validation covers what the real API rejects most often: a missing ``model``,
``max_tokens`` or ``messages`` is a 400 ``invalid_request_error``; an unknown model a 404
``not_found_error``. Errors are ``{"type": "error", "error": {...}}`` bodies with a ``request-id`` header.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import Headers
from starlette.routing import Route

from modelmesh.testing import anthropic_wire as wire
from modelmesh.testing.conversation import read_conversation
from modelmesh.testing.delivery import Outcome
from modelmesh.testing.faults import Fault
from modelmesh.testing.pipeline import Dialect, Endpoint, Payload, ProviderContext


def _request_id(number: int) -> str:
    return f"req_{number:08d}"


def _error(status: int, error_type: str, message: str, number: int) -> Outcome:
    rid = _request_id(number)
    return Outcome.json(wire.error_body(error_type, message, rid), status, {"request-id": rid})


def check_auth(headers: Headers, api_key: str) -> Outcome | None:
    if headers.get("x-api-key") != api_key:
        return _error(401, "authentication_error", "invalid x-api-key", 0)
    if not headers.get("anthropic-version"):
        return _error(400, "invalid_request_error", "anthropic-version: header is required", 0)
    return None


def fault_outcome(fault: Fault, number: int) -> Outcome:
    rid = _request_id(number)
    status, body = wire.fault_error(fault, rid)
    headers = {"request-id": rid}
    if fault.retry_after is not None:
        value = fault.retry_after
        headers["retry-after"] = str(int(value)) if float(value).is_integer() else str(value)
    if status == 529:
        headers["x-should-retry"] = "true"
    return Outcome.json(body, status, headers)


def bad_request(message: str, number: int) -> Outcome:
    return _error(400, "invalid_request_error", message, number)


DIALECT = Dialect(check_auth, fault_outcome, bad_request, wire.rate_limit_headers)


class AnthropicEndpoints:
    """The endpoint functions, bound to one provider."""

    def __init__(self, ctx: ProviderContext) -> None:
        self.ctx = ctx

    def _invalid(self, payload: Payload, *, needs_max_tokens: bool) -> Outcome | None:
        body = payload.json
        if payload.model is None:
            return bad_request("model: Field required", payload.number)
        if needs_max_tokens and not isinstance(body.get("max_tokens"), int):
            return bad_request("max_tokens: Field required", payload.number)
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return bad_request("messages: Field required", payload.number)
        if payload.model not in self.ctx.models:
            return _error(404, "not_found_error", f"model: {payload.model}", payload.number)
        return None

    def messages(self, payload: Payload) -> Outcome:
        refused = self._invalid(payload, needs_max_tokens=True)
        if refused is not None:
            return refused
        assert payload.model is not None
        reply = self.ctx.active_responder(payload.json, payload.model)
        ids: dict[str, Any] = {
            "message_id": f"msg_{self.ctx.name}_{payload.number:06d}",
            "model": payload.model,
            "input_tokens": read_conversation(payload.json).prompt_words,
        }
        headers = {"request-id": _request_id(payload.number)}
        if payload.json.get("stream"):
            return Outcome.events(wire.stream_events(reply, **ids), terminator=True, headers=headers)
        return Outcome.json(wire.message(reply, **ids), headers=headers)

    def count_tokens(self, payload: Payload) -> Outcome:
        refused = self._invalid(payload, needs_max_tokens=False)
        if refused is not None:
            return refused
        tokens = read_conversation(payload.json).prompt_words
        return Outcome.json({"input_tokens": tokens}, headers={"request-id": _request_id(payload.number)})

    def list_models(self, payload: Payload) -> Outcome:
        return Outcome.json(
            wire.models_list(self.ctx.models), headers={"request-id": _request_id(payload.number)}
        )

    def retrieve_model(self, payload: Payload) -> Outcome:
        model_id = payload.params.get("model_id", "")
        if model_id not in self.ctx.models:
            return _error(404, "not_found_error", f"model: {model_id}", payload.number)
        return Outcome.json(wire.model_object(model_id), headers={"request-id": _request_id(payload.number)})


def routes(ctx: ProviderContext) -> list[Route]:
    ep = AnthropicEndpoints(ctx)
    return [
        Route("/v1/messages", Endpoint(ctx, DIALECT, ep.messages), methods=["POST"]),
        Route("/v1/messages/count_tokens", Endpoint(ctx, DIALECT, ep.count_tokens), methods=["POST"]),
        Route("/v1/models", Endpoint(ctx, DIALECT, ep.list_models, has_model=False), methods=["GET"]),
        Route(
            "/v1/models/{model_id:path}",
            Endpoint(ctx, DIALECT, ep.retrieve_model, has_model=False),
            methods=["GET"],
        ),
    ]
