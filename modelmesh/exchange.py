"""What the sync and async transports share: turning SDK requests into runs, attempts into provider
requests, and outcomes into the responses and exceptions the OpenAI SDK expects."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any, cast

import httpx2
import openai

from modelmesh.connectors.base import Failure, FailureKind, InboundRequest
from modelmesh.connectors.openai_chat import endpoint_of
from modelmesh.routing.run import Attempt, Exhausted, RoutingRun
from modelmesh.types import Endpoint

if TYPE_CHECKING:
    from modelmesh.streaming import StreamMonitor

# Hop-by-hop or length headers that no longer describe the body we hand the SDK.
_DROP_HEADERS = frozenset(
    {"content-length", "transfer-encoding", "connection", "content-encoding", "keep-alive"}
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


def inbound_request(request: httpx2.Request) -> InboundRequest | None:
    """Parse what the SDK sent; None when the path is not a routed endpoint."""
    endpoint = endpoint_of(request.url.path)
    if endpoint is None:
        return None
    raw = request.content
    # A plain dict: every keyed lookup on httpx2.Headers scans the whole header list.
    headers = dict(request.headers.items())
    content_type = headers.get("content-type", "application/json")
    body: dict[str, Any] | None = None
    if content_type.startswith("application/json"):
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = None
        body = parsed if isinstance(parsed, dict) else {}
    return InboundRequest(endpoint, request.method, headers, body, raw, content_type)


def requested_model(inbound: InboundRequest) -> str | None:
    if inbound.body is not None:
        model = inbound.body.get("model")
        return model if isinstance(model, str) else None
    return multipart_field(inbound.raw, inbound.content_type, "model")


def multipart_field(body: bytes, content_type: str, name: str) -> str | None:
    boundary = content_type.partition("boundary=")[2].strip('"').encode()
    marker = f'name="{name}"'.encode()
    for part in body.split(b"--" + boundary) if boundary else ():
        head, sep, rest = part.partition(b"\r\n\r\n")
        if sep and marker in head and b"filename=" not in head:
            return rest.rstrip(b"\r\n").decode("utf-8", "replace")
    return None


def provider_request(attempt: Attempt) -> httpx2.Request:
    out = attempt.outbound
    timeout = {
        "connect": attempt.connect_s,
        "read": attempt.read_s,
        "write": attempt.read_s,
        "pool": attempt.connect_s,
    }
    headers = {**out.headers, "accept-encoding": "identity"}
    return httpx2.Request(
        out.method, _url(out.url), headers=headers, content=out.content, extensions={"timeout": timeout}
    )


_URLS: dict[str, httpx2.URL] = {}


def _url(url: str) -> httpx2.URL:
    """Parsed once per provider endpoint: URL parsing is a third of building a request."""
    parsed = _URLS.get(url)
    if parsed is None:
        if len(_URLS) > 4096:  # a bound in case base URLs are generated per request
            _URLS.clear()
        parsed = _URLS[url] = httpx2.URL(url)
    return parsed


def failure_from_exception(exc: Exception) -> Failure:
    if isinstance(exc, httpx2.TimeoutException):
        return Failure(
            FailureKind.TIMEOUT, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        )
    return Failure(FailureKind.CONNECTION, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def read_failure(attempt: Attempt, upstream: httpx2.Response, body: bytes) -> Failure:
    return attempt.connector.classify(upstream.status_code, upstream.headers, body)


def routed_response(
    run: RoutingRun,
    attempt: Attempt,
    upstream: httpx2.Response,
    *,
    content: bytes | None = None,
    stream: httpx2.SyncByteStream | httpx2.AsyncByteStream | None = None,
    payload: Any = None,
) -> httpx2.Response:
    """The SDK's response; ``payload`` is ``content`` already parsed, when the transport parsed it."""
    # multi_items() gives lower-case names.
    headers = [(k, v) for k, v in upstream.headers.multi_items() if k not in _DROP_HEADERS]
    headers += [
        ("x-modelmesh-pool", run.pool.name),
        ("x-modelmesh-model", attempt.model.id),
        ("x-modelmesh-provider", attempt.provider.name),
        ("x-modelmesh-attempts", str(len(run.records))),
        ("x-modelmesh-failovers", str(run.failovers)),
    ]
    if content is not None:
        if not attempt.connector.passthrough:
            content = attempt.connector.translate_response(run.request, attempt.model, content)
            payload = None
        if isinstance(payload, dict):
            run.env.request_finished(run, attempt, content, usage=payload.get("usage"))
        else:
            run.env.request_finished(run, attempt, content)
        return httpx2.Response(upstream.status_code, headers=headers, content=content)
    if not attempt.connector.passthrough:
        headers = [(k, v) for k, v in headers if k != "content-type"]
        headers.append(("content-type", "text/event-stream"))
    return httpx2.Response(upstream.status_code, headers=headers, stream=stream)


def is_binary_stream(run: RoutingRun) -> bool:
    """Generated audio is relayed as it arrives (``with_streaming_response`` plays it while it is made)."""
    return run.request.endpoint is Endpoint.SPEECH


def sync_stream(response: httpx2.Response) -> Iterator[bytes]:
    """The body stream of a response from a sync transport (httpx2 types it as either kind)."""
    return iter(cast(httpx2.SyncByteStream, response.stream))


def async_stream(response: httpx2.Response) -> AsyncIterator[bytes]:
    """The body stream of a response from an async transport."""
    return cast(httpx2.AsyncByteStream, response.stream).__aiter__()


class BinaryRelay(httpx2.SyncByteStream):
    """Relays a 2xx binary body chunk by chunk; once bytes reach the caller there is no failover."""

    def __init__(self, run: RoutingRun, attempt: Attempt, upstream: httpx2.Response) -> None:
        self._run, self._attempt, self._upstream = run, attempt, upstream

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from sync_stream(self._upstream)
        finally:
            self._upstream.close()
        self._run.env.request_finished(self._run, self._attempt, b"")

    def close(self) -> None:
        self._upstream.close()


class AsyncBinaryRelay(httpx2.AsyncByteStream):
    def __init__(self, run: RoutingRun, attempt: Attempt, upstream: httpx2.Response) -> None:
        self._run, self._attempt, self._upstream = run, attempt, upstream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in async_stream(self._upstream):
                yield chunk
        finally:
            await self._upstream.aclose()
        self._run.env.request_finished(self._run, self._attempt, b"")

    async def aclose(self) -> None:
        await self._upstream.aclose()


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
    return httpx2.Response(step.status, headers=headers, content=step.body)


def local_error(status: int, message: str, code: str, param: str | None = None) -> httpx2.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": code, "param": param}}
    return httpx2.Response(status, json=body)


def mid_stream_failure(monitor: StreamMonitor) -> str:
    if monitor.malformed:
        return f"the stream ended without a finish reason ({monitor.malformed} malformed events skipped)"
    return "the connection closed before the answer finished (no finish_reason, no [DONE])"


__all__ = ["Endpoint", "StreamInterruptedError"]
