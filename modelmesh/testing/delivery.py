"""Putting one answer on the wire, with its fault: delays, stalls, cuts, garbage, missing terminators.

The dialect apps decide *what* to answer (an :class:`Outcome`: status, headers, a whole body or a list
of stream events); :class:`Delivery` is the raw ASGI app that sends it and applies the request's
:class:`~modelmesh.testing.Fault` on the way. Waits end early when the client goes away, so a stopped
server or an impatient client never leaves a handler sleeping. Closing the TCP connection without a
clean HTTP ending (``reset``, ``cut``) needs the transport, which ASGI hides: the host hands in an
``abort`` callable that finds it (see ``modelmesh.testing.hosting``).

Only imported once a server starts (it is used under uvicorn), but it imports nothing heavy itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from modelmesh.testing.faults import DELAY_KINDS, Fault

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

GARBAGE_EVENT = b"data: {not json\n\n"
GARBAGE_BODY = b"{not json"
NO_DONE_HOLD_S = 30.0


@dataclass
class Outcome:
    """What to answer: a whole ``body``, or ``chunks`` streamed one event (or binary chunk) at a time.

    ``terminator`` says the last chunk is the stream's end marker (``data: [DONE]`` / ``message_stop``),
    the one ``Fault.no_done`` withholds.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunks: list[bytes] | None = None
    terminator: bool = False
    media_type: str = "application/json"

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Outcome:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
        return cls(status=status, headers=dict(headers or {}), body=body)

    @classmethod
    def events(
        cls, chunks: list[bytes], *, terminator: bool, headers: dict[str, str] | None = None
    ) -> Outcome:
        base = {"cache-control": "no-cache"}
        return cls(
            headers={**base, **(headers or {})},
            chunks=chunks,
            terminator=terminator,
            media_type="text/event-stream; charset=utf-8",
        )


class _Peer:
    """Watches one request's ``receive`` channel for the client going away."""

    def __init__(self, receive: Receive) -> None:
        self.gone = asyncio.Event()
        self._watcher = asyncio.get_running_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.gone.set()
                return

    async def pause(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; False if the client went away meanwhile."""
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gone.wait(), seconds)
        return not self.gone.is_set()

    async def close(self) -> None:
        self._watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._watcher


class Delivery:
    """ASGI app sending one :class:`Outcome` with an optional fault applied."""

    def __init__(
        self,
        outcome: Outcome,
        fault: Fault | None,
        abort: Callable[[], None],
        hold_s: float = NO_DONE_HOLD_S,
    ) -> None:
        self.outcome = outcome
        self.fault = fault
        self._abort = abort
        self._hold_s = hold_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        peer = _Peer(receive)
        try:
            await self._deliver(peer, send)
        finally:
            await peer.close()

    async def _deliver(self, peer: _Peer, send: Send) -> None:
        fault = self.fault
        kind = fault.kind if fault is not None else None
        if kind == "reset":
            await self._drop(peer)
            return
        streamed = self.outcome.chunks is not None
        delayed = fault is not None and (kind == "latency" or (not streamed and kind in DELAY_KINDS))
        if fault is not None and delayed and not await peer.pause(fault.seconds):
            return
        if streamed:
            await self._send_stream(peer, send)
        else:
            await self._send_whole(peer, send, kind)

    def _start(self, extra: dict[str, str]) -> Message:
        headers = {"content-type": self.outcome.media_type, **self.outcome.headers, **extra}
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        return {"type": "http.response.start", "status": self.outcome.status, "headers": raw}

    async def _send_whole(self, peer: _Peer, send: Send, kind: str | None) -> None:
        body = GARBAGE_BODY if kind == "malformed" else self.outcome.body
        await send(self._start({"content-length": str(len(body))}))
        if kind == "cut":
            await send({"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True})
            await self._drop(peer)
            return
        await send({"type": "http.response.body", "body": body, "more_body": False})

    async def _send_stream(self, peer: _Peer, send: Send) -> None:
        chunks = self.outcome.chunks or []
        withhold_last = self.fault is not None and self.fault.kind == "no_done" and self.outcome.terminator
        await send(self._start({}))
        for index, chunk in enumerate(chunks):
            if not await self._before_event(index, peer, send):
                return
            if withhold_last and index == len(chunks) - 1:
                await peer.pause(self._hold_s)
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        else:
            if not await self._before_event(len(chunks), peer, send):
                return
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _before_event(self, index: int, peer: _Peer, send: Send) -> bool:
        """Apply the stream fault due before event ``index``; False when the stream is over."""
        fault = self.fault
        if fault is None:
            return not peer.gone.is_set()
        if fault.kind == "slow_first_token" and index == 0:
            return await peer.pause(fault.seconds)
        if fault.kind == "stall" and index == fault.after_events:
            return await peer.pause(fault.seconds)
        if fault.kind == "cut" and index == fault.after_events:
            await self._drop(peer)
            return False
        if fault.kind == "malformed" and index == fault.after_events:
            await send({"type": "http.response.body", "body": GARBAGE_EVENT, "more_body": True})
        return not peer.gone.is_set()

    async def _drop(self, peer: _Peer) -> None:
        """Close the connection abruptly and wait until the server has noticed."""
        self._abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(peer.gone.wait(), 1.0)
