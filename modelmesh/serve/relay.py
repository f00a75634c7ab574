"""Relaying the mesh's answer to a proxy client: which headers leave, what error text leaves, and the body.

Owns the response side of the edge: an allow-list of upstream headers (:data:`RELAYED_HEADERS`,
:data:`RELAYED_PREFIXES`), the replacement of provider error text by its status, type and code when the
operator asks for it, ``Retry-After`` on a request every provider refused, and streaming the body while
watching for the client to leave. It deliberately does not route or retry: the answer is already final.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any

import httpx2
import openai

if TYPE_CHECKING:
    from modelmesh.mesh import ModelMesh

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

# What a client needs to read the answer, pace itself and correlate a request with the provider's logs.
# Everything else a provider sends (openai-organization, set-cookie, server, via, cf-*, tracing ids of
# its infrastructure) stays behind the proxy.
RELAYED_HEADERS = frozenset(
    {
        "content-type",
        "content-disposition",
        "cache-control",
        "x-request-id",
        "request-id",
        "openai-processing-ms",
        "retry-after",
        "retry-after-ms",
        "x-should-retry",
    }
)
RELAYED_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "x-modelmesh-")
logger = logging.getLogger("modelmesh.serve")
_EXHAUSTED = ("x-modelmesh-attempts", "x-modelmesh-pool")  # the mesh tried providers: not a local answer


def is_relayed(name: str) -> bool:
    return name in RELAYED_HEADERS or name.startswith(RELAYED_PREFIXES)


class RelayResponse:
    """Sends the mesh's response as it comes; a client that leaves closes the provider stream at once.

    Why a watcher: uvicorn's ``send`` silently drops data for a gone client, so without listening for
    ``http.disconnect`` a relay would keep reading (and paying for) a provider stream nobody receives.
    ``gone`` is the disconnect watcher the caller already started while the mesh was routing.
    A client that stops reading (a send blocked for ``send_timeout_s``) is cut off too: it would hold a
    concurrency slot and a provider stream for as long as it likes.
    """

    def __init__(
        self,
        mesh: ModelMesh,
        answer: httpx2.Response,
        *,
        redact_errors: bool,
        send_timeout_s: float = 30.0,
        anthropic: bool = False,
    ) -> None:
        self.mesh, self.answer, self.redact_errors = mesh, answer, redact_errors
        self.anthropic = anthropic  # a Messages endpoint: a redacted error keeps Anthropic's shape
        self.send_timeout_s = send_timeout_s
        self.send_started: float | None = None  # when the send in progress began
        self.status = answer.status_code
        # multi_items() gives lower-case names.
        self.headers = [(k, v) for k, v in answer.headers.multi_items() if is_relayed(k)]
        self.is_exhausted = self.status >= 400 and all(name in answer.headers for name in _EXHAUSTED)
        if self.status >= 400 and "x-should-retry" not in answer.headers:
            # An in-process mesh client never retries (max_retries=0); remote SDKs should not either.
            self.headers.append(("x-should-retry", "false"))
        if self.is_exhausted and (self.status >= 500 or self.status == 429):
            self._add_retry_after()

    def _add_retry_after(self) -> None:
        """Every provider failed: tell the client when the pool expects a model back (at least 1 s)."""
        if any(name == "retry-after" for name, _ in self.headers):
            return
        status = self.mesh.pool_status().get(self.answer.headers["x-modelmesh-pool"])
        waits = [m.back_in_s for m in status.models if m.back_in_s is not None] if status else []
        seconds = max(1, math.ceil(min(waits))) if waits else 1
        self.headers.append(("retry-after", str(seconds)))

    async def __call__(
        self, send: Send, gone: asyncio.Future[None] | None = None, *, receive: Receive | None = None
    ) -> None:
        """Relays the answer; ``gone`` (or a watcher of ``receive`` started for a stream) ends a stream
        whose client left. Neither: the stream is relayed to its end."""
        if isinstance(self.answer.stream, httpx2.ByteStream):  # a whole body: nothing to watch
            if gone is not None:
                gone.cancel()
            body = await self.answer.aread()
            if self.redact_errors and self.is_exhausted:
                text = self.mesh.redact(body)[:4096].decode("utf-8", "replace")
                logger.warning("provider error relayed without its text (HTTP %d): %r", self.status, text)
                body = redacted_error(self.status, body)
                if self.anthropic:
                    from modelmesh.dialects.messages import error_body

                    body = error_body(self.status, json.loads(body)["error"]["message"])
                self.headers = [(k, v) for k, v in self.headers if k != "content-type"]
                self.headers.append(("content-type", "application/json"))
            await self._start(send, [("content-length", str(len(body)))])
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        if gone is None:
            gone = asyncio.ensure_future(disconnected(receive)) if receive else asyncio.Future()
        await self._start(send, [])
        pump = asyncio.ensure_future(self._pump(send))
        watchdog = _SendWatchdog(self, pump)
        try:
            await asyncio.wait((pump, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            watchdog.cancel()
            gone.cancel()
            pump.cancel()  # a no-op when the relay ended; else the client left: stop reading upstream
            outcome, _ = await asyncio.gather(pump, gone, return_exceptions=True)
            await self.answer.aclose()
        if isinstance(outcome, Exception):
            raise outcome

    async def _start(self, send: Send, extra: list[tuple[str, str]]) -> None:
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in self.headers + extra]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})

    async def _pump(self, send: Send) -> None:
        chunks: AsyncIterator[bytes] = self.answer.stream.__aiter__()  # type: ignore[union-attr]
        try:
            loop = asyncio.get_running_loop()
            async for chunk in chunks:
                if chunk:
                    self.send_started = loop.time()
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    self.send_started = None
        except openai.APIError as exc:
            # StreamInterruptedError after the 200 went out: an SSE error event is what clients parse
            # (the openai SDKs raise APIError from it); the stream then ends without [DONE].
            event = sse_error(exc, redact=self.redact_errors)
            await send({"type": "http.response.body", "body": event, "more_body": True})
        finally:
            # Closing the relay generator runs its cleanup (upstream closed, the run reported) now,
            # not whenever the garbage collector reaches it.
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def disconnected(receive: Receive) -> None:
    """Returns when the client has left (its request body already read)."""
    while (await receive())["type"] != "http.disconnect":
        pass


class _SendWatchdog:
    """Cuts a relay off when one send has been blocked past its timeout (the client stopped reading).

    One timer a few times per timeout instead of a timeout around every chunk: the pump only stamps
    when each send begins, which keeps the per-chunk cost to two attribute writes.
    """

    def __init__(self, relay: RelayResponse, pump: asyncio.Future[None]) -> None:
        self.relay, self.pump = relay, pump
        self.loop = asyncio.get_running_loop()
        self.every = min(1.0, relay.send_timeout_s / 2)
        self.handle = self.loop.call_later(self.every, self._check)

    def _check(self) -> None:
        since = self.relay.send_started
        if since is not None and self.loop.time() - since > self.relay.send_timeout_s:
            logger.warning("a client read nothing for %g s: its stream is cut off", self.relay.send_timeout_s)
            self.pump.cancel()
            return
        self.handle = self.loop.call_later(self.every, self._check)

    def cancel(self) -> None:
        self.handle.cancel()


def redacted_error(status: int, body: bytes) -> bytes:
    """A provider's error reduced to its status, type and code: its text may hold internal details."""
    kind, code = "upstream_error", None
    try:
        error = json.loads(body).get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        kind = str(error.get("type") or kind)[:64]
        code = str(error["code"])[:64] if error.get("code") is not None else None
    message = f"Every provider failed; the last answered HTTP {status} ({kind}{f', {code}' if code else ''})."
    error_out = {
        "message": message + " Details are in the proxy's logs.",
        "type": kind,
        "code": code,
        "param": None,
    }
    return json.dumps({"error": error_out}).encode()


def sse_error(exc: openai.APIError, *, redact: bool) -> bytes:
    """The SSE event that ends a stream broken after content was sent."""
    message = (
        "The stream broke after content was delivered; the answer is incomplete." if redact else exc.message
    )
    error = {"message": message, "type": "stream_interrupted", "code": "stream_interrupted", "param": None}
    if isinstance(exc.body, dict):
        error.update({k: v for k, v in exc.body.items() if k in ("partial_text", "model")})
    return b"data: " + json.dumps({"error": error}).encode() + b"\n\n"
