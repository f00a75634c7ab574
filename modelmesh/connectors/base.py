"""The connector protocol: what the router needs from a wire dialect, and nothing else.

A connector is pure: it builds outbound requests, translates provider responses and stream events into
the OpenAI shape, and classifies failures. It never performs I/O; the engine does.

The contract for failing: a request the dialect cannot express raises ``UnsupportedRequest`` (the model
is skipped for this request, with no mark on its health); a provider answer that is a failure raises
``ConnectorError`` carrying the classified ``Failure``. Anything else a hook raises is a connector bug,
which the engine's failure boundary still turns into a failover, never into the caller's exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from modelmesh.types import Endpoint, ModelSpec, ProviderEndpoint

if TYPE_CHECKING:
    from modelmesh.dialects.base import ClientDialect


@dataclass(slots=True)
class OutboundRequest:
    """A request ready to send to a provider."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes


@dataclass(slots=True)
class InboundRequest:
    """A request as the OpenAI SDK built it, with the virtual model name still in it."""

    endpoint: Endpoint
    method: str
    headers: Mapping[str, str]
    body: dict[str, Any] | None  # parsed JSON body; None for multipart uploads
    raw: bytes  # the original body (multipart uploads are rewritten from it)
    content_type: str = "application/json"
    dialect: ClientDialect | None = None  # the caller's API when not chat (the body is its chat form)

    @property
    def is_stream(self) -> bool:
        return bool(self.body and self.body.get("stream"))


class FailureKind(StrEnum):
    """What a failed attempt means for routing."""

    TIMEOUT = "timeout"  # connect / read / first-token / stall timeout: retryable
    CONNECTION = "connection"  # refused, reset, DNS: retryable
    RATE_LIMITED = "rate_limited"  # 429: retryable, honour Retry-After
    SERVER = "server"  # 408, 500, 502, 503, 504, 529: retryable
    AUTH = "auth"  # 401, 403: deactivate the whole provider
    NOT_FOUND = "not_found"  # 404: deactivate the model
    CONTEXT_LENGTH = "context_length"  # prompt too long: move to a larger context window
    CONTENT_POLICY = "content_policy"  # a refusal: returned to the caller as it is
    BAD_REQUEST = "bad_request"  # 400, 422: the caller's fault, returned as it is
    STREAM_BROKEN = "stream_broken"  # cut / malformed stream before any content: retryable
    CONNECTOR = "connector"  # our translation failed on this answer: fail over, do not repeat it

    @property
    def is_retryable(self) -> bool:
        return self in _RETRYABLE

    @property
    def is_caller_error(self) -> bool:
        """Failures that another model would not fix: return them to the caller untouched."""
        return self in (FailureKind.BAD_REQUEST, FailureKind.CONTENT_POLICY)


_RETRYABLE = frozenset(
    {
        FailureKind.TIMEOUT,
        FailureKind.CONNECTION,
        FailureKind.RATE_LIMITED,
        FailureKind.SERVER,
        FailureKind.STREAM_BROKEN,
    }
)


@dataclass(frozen=True, slots=True)
class Failure:
    """A classified failed attempt."""

    kind: FailureKind
    message: str
    status: int | None = None
    retry_after_s: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""  # the provider's error body in OpenAI error shape (what the caller sees)
    blames_provider: bool = True  # False for our own limits (a full connection pool): no health change
    # Evidence against the provider's endpoint, not one model: refused, or silent before any content.
    suspects_endpoint: bool = False


class ConnectorError(Exception):
    """A provider answer or stream event that is a failure; ``failure`` says what it means for routing."""

    def __init__(self, failure: Failure) -> None:
        self.failure = failure
        super().__init__(failure.message)


class UnsupportedRequest(ValueError):
    """The request uses something this dialect cannot express (``n=2``, an audio part): try another model."""


class StreamTranslator(Protocol):
    """Turns one provider's stream events into OpenAI ``chat.completion.chunk`` payloads."""

    def feed(self, event: str | None, data: str) -> list[dict[str, Any]]:
        """One server-sent event in; zero or more OpenAI chunk dicts out. A malformed event raises
        ``ValueError`` (skipped and counted); an error event raises ``ConnectorError``."""
        ...

    @property
    def finished(self) -> bool:
        """True once the provider signalled the end of the answer (finish reason / message_stop)."""
        ...


class Connector(Protocol):
    """A wire dialect. Implementations are stateless and safe to share between threads."""

    #: True when the provider already speaks the OpenAI format (responses pass through untouched).
    passthrough: bool

    def build_request(
        self, request: InboundRequest, model: ModelSpec, provider: ProviderEndpoint
    ) -> OutboundRequest: ...

    def translate_response(self, request: InboundRequest, model: ModelSpec, body: bytes) -> bytes:
        """A successful non-stream provider body -> an OpenAI-format body."""
        ...

    def stream_translator(self, request: InboundRequest, model: ModelSpec) -> StreamTranslator | None:
        """None for OpenAI-format streams (passed through); a translator otherwise."""
        ...

    def classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Failure:
        """A non-2xx provider response -> a classified failure whose body is in OpenAI error shape."""
        ...
