"""The request pipeline shared by both dialects: what a fake provider gives it, and the endpoint running it.

Every request goes the same way: read and record it, check credentials, take the provider's next fault,
let the dialect endpoint compute an :class:`~modelmesh.testing.delivery.Outcome`, then hand both to a
:class:`~modelmesh.testing.delivery.Delivery`. Error faults replace the outcome; ``rate_limit_headers``
decorates it; every other fault is applied while delivering. The dialect modules
(``openai_app``, ``anthropic_app``) own only their endpoints and error spelling, and build on the types
here (``ProviderContext``, ``Payload``, ``Dialect``, ``Endpoint``); ``app`` puts their routes together.

This module imports Starlette; it is imported when the first server starts, never by
``import modelmesh.testing``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Protocol

from starlette.datastructures import Headers
from starlette.requests import Request

from modelmesh.testing.delivery import Delivery, Outcome, Receive, Scope, Send
from modelmesh.testing.faults import Fault, FaultSchedule
from modelmesh.testing.recording import RecordedRequest
from modelmesh.testing.responder import Responder


class ProviderContext(Protocol):
    """What the apps need from a :class:`~modelmesh.testing.FakeProvider`."""

    name: str
    models: list[str]
    api_key: str
    schedule: FaultSchedule
    hold_s: float

    @property
    def host_url(self) -> str: ...

    @property
    def active_responder(self) -> Responder: ...

    def record(self, request: RecordedRequest) -> int: ...

    def abort_connection(self, scope: Scope) -> None: ...


@dataclass(frozen=True)
class Payload:
    """A parsed request: its JSON body (or form fields), the model it names, its headers."""

    json: dict[str, Any]
    model: str | None
    headers: Headers
    number: int
    files: dict[str, tuple[str, bytes]]
    params: dict[str, str]


@dataclass(frozen=True)
class Dialect:
    """How one wire dialect spells the parts every endpoint shares."""

    check_auth: Callable[[Headers, str], Outcome | None]
    fault_outcome: Callable[[Fault, int], Outcome]
    bad_request: Callable[[str, int], Outcome]
    rate_limit_headers: Callable[[Fault], dict[str, str]]


Produce = Callable[[Payload], Outcome]


class Endpoint:
    """A raw ASGI endpoint running the shared pipeline around one dialect function."""

    def __init__(
        self,
        ctx: ProviderContext,
        dialect: Dialect,
        produce: Produce,
        *,
        form: bool = False,
        has_model: bool = True,
    ) -> None:
        self.ctx = ctx
        self.dialect = dialect
        self.produce = produce
        self.form = form
        self.has_model = has_model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        delivery = await self._handle(request)
        await delivery(scope, receive, send)

    async def _handle(self, request: Request) -> Delivery:
        ctx, dialect = self.ctx, self.dialect
        raw = await request.body()
        files: dict[str, tuple[str, bytes]] = {}
        problem: str | None = None
        try:
            if self.form:
                body, files = parse_multipart(request.headers.get("content-type", ""), raw)
            else:
                body = parse_json(raw) if request.method == "POST" else {}
        except ValueError as exc:
            body, problem = {}, str(exc)
        model = body.get("model") if isinstance(body.get("model"), str) else None
        number = ctx.record(
            RecordedRequest(
                method=request.method,
                path=request.url.path,
                headers=dict(request.headers),
                json=None if self.form or request.method != "POST" else body,
                model=model,
                form={**body, **{k: name for k, (name, _) in files.items()}} if self.form else None,
            )
        )
        scope = request.scope

        def abort() -> None:
            ctx.abort_connection(scope)

        denied = dialect.check_auth(request.headers, ctx.api_key)
        if denied is not None:
            return Delivery(denied, None, abort)
        fault = ctx.schedule.take(model if self.has_model else None)
        if fault is not None and fault.is_error:
            return Delivery(dialect.fault_outcome(fault, number), None, abort)
        if problem is not None:
            outcome = dialect.bad_request(problem, number)
        else:
            outcome = self.produce(
                Payload(body, model, request.headers, number, files, dict(request.path_params))
            )
        if fault is not None and fault.kind == "rate_limit_headers":
            outcome.headers.update(dialect.rate_limit_headers(fault))
            fault = None
        return Delivery(outcome, fault, abort, hold_s=ctx.hold_s)


def parse_json(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"We could not parse the JSON body of your request: {exc}") from exc
    if not isinstance(body, dict):
        raise ValueError("The request body must be a JSON object.")
    return body


def parse_multipart(content_type: str, raw: bytes) -> tuple[dict[str, Any], dict[str, tuple[str, bytes]]]:
    """Form fields and files of a ``multipart/form-data`` body (stdlib only: no python-multipart)."""
    if not content_type.startswith("multipart/form-data"):
        raise ValueError("Expected a multipart/form-data body.")
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    fields: dict[str, Any] = {}
    files: dict[str, tuple[str, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            files[name] = (filename, data)
        else:
            fields[name] = data.decode("utf-8", "replace")
    return fields, files
