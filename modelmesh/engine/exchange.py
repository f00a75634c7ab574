"""The engine's edges: attempts turned into provider requests, and outcomes into the responses and
exceptions the OpenAI SDK expects. (What the SDK sent is parsed before the engine runs, in
``mesh.inbound``.)"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import httpx2
import openai

from modelmesh.connectors.base import ConnectorError, Failure, FailureKind
from modelmesh.headers import header_dict
from modelmesh.payloads import parse_json
from modelmesh.routing.run import Attempt, Exhausted, RoutingRun
from modelmesh.types import Endpoint

if TYPE_CHECKING:
    from modelmesh.engine.streaming import StreamMonitor

# Hop-by-hop or length headers that no longer describe the body we hand the SDK.
_DROP_HEADERS = frozenset(
    {b"content-length", b"transfer-encoding", b"connection", b"content-encoding", b"keep-alive"}
)


class StreamInterruptedError(openai.APIError):
    """A stream failed after content had already reached the caller: the answer is incomplete.

    ``partial_text`` holds what was delivered; ``model`` the model that was answering.
    """

    partial_text: str
    model: str | None
    pool: str

    @classmethod
    def build(cls, run: RoutingRun, partial: str, reason: str) -> StreamInterruptedError:
        model = run.answered_by.id if run.answered_by else None
        message = (
            f"The stream from {model!r} (pool {run.pool.name!r}) broke after content was delivered: "
            f"{reason}. The answer is incomplete ({len(partial)} characters received)."
        )
        request = httpx2.Request("POST", "http://modelmesh.local/v1/chat/completions")
        error = cls(message, request, body={"partial_text": partial, "model": model, "reason": reason})
        error.partial_text, error.model, error.pool = partial, model, run.pool.name
        return error


def rate_limit_headers(response: httpx2.Response) -> dict[str, str]:
    """The provider's rate-limit headers (usually none), for the model's health record."""
    return {name: value for name, value in header_dict(response.headers).items() if "ratelimit" in name}


def provider_request(attempt: Attempt) -> httpx2.Request:
    """The attempt's request as httpx2 sends it, built from header bytes and a ready body stream.

    Equivalent to ``httpx2.Request(method, url, headers=..., content=...)`` (the same Host and
    Content-Length it would add) at a fifth of the cost: header normalisation and the content encoder
    were most of what a routed request cost on top of the SDK's own.
    """
    out = attempt.outbound
    assert out is not None, "the flow builds the outbound request first"
    url, host = _target(out.url)
    headers: dict[bytes, bytes] = {b"host": host}
    for name, value in out.headers.items():
        headers[name.lower().encode("ascii")] = value.encode("ascii")
    headers[b"content-length"] = str(len(out.content)).encode("ascii")
    headers[b"accept-encoding"] = b"identity"
    timeout = {
        "connect": attempt.connect_s,
        "read": attempt.read_s,
        "write": attempt.read_s,
        "pool": attempt.connect_s,
    }
    request = httpx2.Request(
        out.method,
        url,
        headers=list(headers.items()),
        stream=httpx2.ByteStream(out.content),
        extensions={"timeout": timeout},
    )
    request.read()  # what a request built with content= holds: its body is readable (mock transports)
    return request


_TARGETS: dict[str, tuple[httpx2.URL, bytes]] = {}


def _target(url: str) -> tuple[httpx2.URL, bytes]:
    """The parsed URL and its Host header, once per provider endpoint (parsing is costly)."""
    target = _TARGETS.get(url)
    if target is None:
        if len(_TARGETS) > 4096:  # a bound in case base URLs are generated per request
            _TARGETS.clear()
        parsed = httpx2.URL(url)
        target = _TARGETS[url] = (parsed, parsed.netloc)
    return target


def answer_headers(run: RoutingRun, attempt: Attempt, upstream: httpx2.Response) -> list[tuple[bytes, bytes]]:
    """The caller's response headers: the provider's (minus stale ones) and the routing facts."""
    headers = [(k, v) for k, v in upstream.headers.raw if k.lower() not in _DROP_HEADERS]
    if not attempt.connector.passthrough and run.requirements.streaming:
        headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]
        headers.append((b"content-type", b"text/event-stream"))
    headers += [
        (b"x-modelmesh-pool", run.pool.name.encode()),
        (b"x-modelmesh-model", attempt.model.id.encode()),
        (b"x-modelmesh-provider", attempt.provider.name.encode()),
        (b"x-modelmesh-attempts", str(len(run.records)).encode()),
        (b"x-modelmesh-failovers", str(run.failovers).encode()),
    ]
    return headers


# What a 2xx JSON body must hold to be an answer, by endpoint (others are not checked).
_ANSWER_KEYS: dict[Endpoint, bytes] = {
    Endpoint.CHAT: b"choices",
    Endpoint.EMBEDDINGS: b"data",
    Endpoint.IMAGES: b"data",
}


def checked_answer(
    run: RoutingRun, attempt: Attempt, upstream: httpx2.Response, body: bytes
) -> tuple[bytes, dict[str, Any] | None]:
    """A fully read 2xx body as the caller's content and its usage; raises ``ConnectorError`` when the
    body is not an answer (invalid JSON, an error object, no ``choices``), so the request fails over."""
    payload: Any = None
    if not attempt.connector.passthrough:
        body = attempt.connector.translate_response(run.request, attempt.model, body)  # checks it too
    elif upstream.headers.get("content-type", "").startswith("application/json"):
        payload = _json_answer(run.request.endpoint, body)
    if isinstance(payload, dict):
        usage = payload.get("usage")
        return body, usage if isinstance(usage, dict) else None
    usage = _usage_of(body) if run.request.endpoint is not Endpoint.SPEECH else None
    return body, usage


def _json_answer(endpoint: Endpoint, body: bytes) -> Any:
    """The parsed payload (None for large bodies, checked by their ends and keys only)."""
    text = body.strip()
    # Parsing large bodies (embeddings) costs milliseconds: past 32 KB only the ends and keys are checked.
    if text[:1] + text[-1:] not in (b"{}", b"[]"):
        raise _not_an_answer("the provider's response body is not valid JSON")
    needed = _ANSWER_KEYS.get(endpoint)
    if len(text) > 32_768:  # the key sits near an end: a byte search finds it at once, without parsing
        if needed is not None and b'"' + needed + b'"' not in text:
            raise _not_an_answer(f"the provider answered 2xx without {needed.decode()!r}")
        return None
    try:
        payload = parse_json(text)
    except ValueError:
        raise _not_an_answer("the provider's response body is not valid JSON") from None
    if needed is None or not isinstance(payload, dict) or payload.get(needed.decode()) is not None:
        return payload
    error = payload.get("error")
    if error:
        message = error.get("message") if isinstance(error, dict) else str(error)
        raise _not_an_answer(f"the provider answered 2xx with an error: {message}")
    raise _not_an_answer(f"the provider answered 2xx without {needed.decode()!r}")


def _not_an_answer(message: str) -> ConnectorError:
    body = json.dumps(
        {"error": {"message": message, "type": "server_error", "code": "invalid_provider_answer"}}
    )
    return ConnectorError(Failure(FailureKind.SERVER, message, 502, body=body.encode()))


def whole_answer(
    run: RoutingRun, attempt: Attempt, upstream: httpx2.Response, content: bytes
) -> httpx2.Response:
    """The caller's response for a checked whole answer (accounted by the flow, once)."""
    if run.request.dialect is not None:
        content = run.request.dialect.answer(content)
    headers = answer_headers(run, attempt, upstream)
    headers.append((b"content-length", str(len(content)).encode()))
    response = httpx2.Response(upstream.status_code, headers=headers, stream=httpx2.ByteStream(content))
    # The body is already whole: setting what read() caches saves httpx2's decoder pipeline (~10 µs).
    # Should httpx2 ever stop honouring it, read() streams the same bytes: slower, never wrong.
    response._content = content
    return response


def _usage_of(body: bytes) -> dict[str, Any] | None:
    """The ``usage`` object of a JSON body without parsing the rest (it is usually at the end)."""
    index = body.rfind(b'"usage"')
    if index < 0:
        return None
    start = body.find(b"{", index)
    if start < 0:
        return None
    try:
        value, _ = json.JSONDecoder().raw_decode(body[start:].decode("utf-8", "replace"))
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def exhausted_response(step: Exhausted, run: RoutingRun, request: httpx2.Request) -> httpx2.Response:
    """The caller's answer when no attempt succeeded; transport-level failures re-raise as httpx2 errors
    so the SDK raises its own ``APITimeoutError`` / ``APIConnectionError``."""
    run.env.request_failed(run, step)
    if step.status is None:
        summary = "; ".join(f"{r.model}: {r.outcome}" for r in run.records) or "no attempt"
        message = f"{step.message} (pool {run.pool.name!r}; attempts: {summary})"
        if step.kind is FailureKind.TIMEOUT:
            raise httpx2.ReadTimeout(message, request=request)
        raise httpx2.ConnectError(message, request=request)
    headers = {
        "content-type": "application/json",
        "x-modelmesh-pool": run.pool.name,
        "x-modelmesh-attempts": str(len(run.records)),
    }
    for name in ("retry-after", "retry-after-ms"):
        if name in step.headers:
            headers[name] = step.headers[name]
    status, body = step.status, step.body
    if run.request.dialect is not None:
        summary = "; ".join(f"{r.model}: {r.outcome}" for r in run.records) or "no attempt"
        status, body = run.request.dialect.error(status, _with_attempts(body, summary))
    return httpx2.Response(status, headers=headers, content=body)


def _with_attempts(body: bytes, summary: str) -> bytes:
    """An OpenAI error body whose message lists the attempts (for dialects whose SDK shows only text)."""
    try:
        data = json.loads(body)
        data["error"]["message"] = f"{data['error']['message']} (attempts: {summary})"
    except (ValueError, TypeError, KeyError):
        return body
    return json.dumps(data).encode()


def mid_stream_failure(monitor: StreamMonitor) -> str:
    if monitor.malformed:
        return f"the stream ended without a finish reason ({monitor.malformed} malformed events skipped)"
    return "the connection closed before the answer finished (no finish_reason, no [DONE])"


__all__ = ["Endpoint", "StreamInterruptedError"]
