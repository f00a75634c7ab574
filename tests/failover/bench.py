"""A local stand-in for the failoverbench wall, built on ``modelmesh.testing`` fakes.

The failoverbench catalogue (scenarios S01-S16, methodology v0.1) injects one fault per scenario into
a primary model, offers a healthy fallback, and scores the gateway with machine checks computed from
the wall's request log. Here the wall is two ``FakeProvider`` servers answering one canonical 60-word
text (and its remainder after an assistant prefill, as a prefill-capable model would), and the log
is taken on the wire: a recording HTTP transport under the mesh sees every request it sends. The
``fast`` timing profile is used: slow first token 3 s, stall 4 s, no response 15 s.

``run_scenario`` makes one call through a real ``MeshClient`` and returns the metrics and the check
results; ``verdict`` combines them as the catalogue does (pass / partial / safe / fail).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2

from modelmesh.builder import build_mesh
from modelmesh.client import AsyncMeshClient, MeshClient
from modelmesh.config import MeshConfig
from modelmesh.testing import FakeProvider
from modelmesh.testing.responder import Reply
from modelmesh.transport import AsyncMeshTransport, MeshTransport

CANONICAL = (
    "A gateway earns trust only when the provider behind it misbehaves, because on a calm day any proxy "
    "looks reliable. Trust comes from riding out rate limits, outages, silent stalls and broken streams "
    "without hiding the failure, without billing the caller for attempts that failed, and without ever "
    "presenting a truncated answer as complete. Everything else is merely marketing copy."
)
assert len(CANONICAL.split()) == 60
PROMPT = "Explain in exactly sixty words why a gateway earns trust only when the provider misbehaves."
FALLBACK = "fb-ok"
NO_PREFILL = "fb-ok-noprefill"


def norm(text: str | None) -> str:
    return " ".join((text or "").split())


def canonical_responder(body: dict[str, Any], model: str) -> Reply:
    """The canonical answer; after an assistant prefill that is a prefix of it, only the remainder."""
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    if last.get("role") == "assistant":
        content = last.get("content")
        if isinstance(content, list):  # Anthropic text blocks
            content = "".join(b.get("text", "") for b in content if isinstance(b, dict))
        partial = (content or "").strip()
        if partial and CANONICAL.startswith(partial):
            return Reply(text=CANONICAL[len(partial) :])
    return Reply(text=CANONICAL)


@dataclass
class Wall:
    """The two fakes and the wire log of the requests the mesh sent them."""

    primary: FakeProvider
    fallback: FakeProvider
    log: list[dict[str, Any]] = field(default_factory=list)
    reject_prefill: set[str] = field(default_factory=lambda: {NO_PREFILL})
    t0: float = 0.0

    def reset(self) -> None:
        self.primary.reset()
        self.fallback.reset()
        self.log.clear()
        self.t0 = time.monotonic()

    def note(self, request: httpx2.Request) -> tuple[dict[str, Any], httpx2.Response | None]:
        """Log one outbound request; a prefill sent to a model that rejects it is answered 400 here."""
        body = json.loads(request.content or b"{}")
        messages = body.get("messages") or [{}]
        entry = {
            "t": time.monotonic() - self.t0,
            "model": body.get("model"),
            "last_role": messages[-1].get("role"),
        }
        self.log.append(entry)
        if entry["model"] in self.reject_prefill and entry["last_role"] == "assistant":
            entry["action"] = "400 prefill_rejected"
            error = {
                "message": "This model does not support assistant message prefill.",
                "type": "invalid_request_error",
                "code": "invalid_prefill",
                "param": "messages",
            }
            return entry, httpx2.Response(400, json={"error": error})
        return entry, None


class _Recorder(httpx2.BaseTransport):
    def __init__(self, wall: Wall) -> None:
        self.wall, self.http = wall, httpx2.HTTPTransport(retries=0)

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        entry, answer = self.wall.note(request)
        if answer is not None:
            return answer
        try:
            response = self.http.handle_request(request)
        except httpx2.TransportError as exc:
            entry["action"] = type(exc).__name__
            raise
        entry["action"] = str(response.status_code)
        return response

    def close(self) -> None:
        self.http.close()


class _AsyncRecorder(httpx2.AsyncBaseTransport):
    def __init__(self, wall: Wall) -> None:
        self.wall, self.http = wall, httpx2.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        entry, answer = self.wall.note(request)
        if answer is not None:
            return answer
        try:
            response = await self.http.handle_async_request(request)
        except httpx2.TransportError as exc:
            entry["action"] = type(exc).__name__
            raise
        entry["action"] = str(response.status_code)
        return response

    async def aclose(self) -> None:
        await self.http.aclose()


BENCH_POOL: dict[str, Any] = {
    "capability": "chat-completion",
    "strategy": "priority-selection",
    "retry": {"max_attempts": 2, "backoff_base_s": 0.1, "backoff_max_s": 0.5, "patience_s": 2.5},
    "timeouts": {"connect_s": 2, "read_s": 5, "first_token_s": 1, "stall_s": 1, "total_s": 20},
    "recovery": {"cooldown_s": 60},
    "streaming": {"on_interrupt": "continue"},
}


def bench_config(wall: Wall, primary: str, fallback: str = FALLBACK, **pool: Any) -> dict[str, Any]:
    """One pool: the scenario's primary model first, the fallback second (priority-selection)."""

    def declared(provider: str, context: int, prefill: bool) -> dict[str, Any]:
        features = ["system_prompt", "assistant_prefill"] if prefill else ["system_prompt"]
        return {
            "provider": provider,
            "capabilities": ["chat-completion"],
            "features": features,
            "constraints": {"context_window": context},
            "pricing": {"input_per_1m": 1, "output_per_1m": 2},
        }

    settings = {**BENCH_POOL, **pool}
    return {
        "providers": {
            "primary": {
                "base_url": wall.primary.base_url,
                "api_key": wall.primary.api_key,
                "models": [primary],
            },
            "fallback": {
                "base_url": wall.fallback.base_url,
                "api_key": wall.fallback.api_key,
                "models": [FALLBACK, NO_PREFILL],
            },
        },
        "models": {
            f"primary.{primary}": declared("primary", 8192, True),
            f"fallback.{FALLBACK}": declared("fallback", 128000, True),
            f"fallback.{NO_PREFILL}": declared("fallback", 128000, False),
        },
        "pools": {
            "bench": {**settings, "models": [primary, fallback], "model_priority": [primary, fallback]}
        },
    }


def client_for(
    wall: Wall, config: dict[str, Any], *, asynchronous: bool = False, clock: Callable[[], float] = time.time
) -> Any:
    mesh = build_mesh(MeshConfig.load(config), clock=clock, rng=random.Random(5))
    if asynchronous:
        http = httpx2.AsyncClient(transport=AsyncMeshTransport(mesh, http=_AsyncRecorder(wall)), timeout=None)
        return AsyncMeshClient(http_client=http)
    return MeshClient(
        http_client=httpx2.Client(transport=MeshTransport(mesh, http=_Recorder(wall)), timeout=None)
    )


@dataclass
class CallResult:
    ok: bool
    content: str = ""
    error: BaseException | None = None
    model: str | None = None
    usage: dict[str, Any] | None = None
    elapsed_s: float = 0.0


def call(client: Any, *, stream: bool = True, model: str = "bench") -> CallResult:
    """One chat call (streamed with usage by default), as the bench makes it (sync or async client)."""
    start = time.monotonic()
    kwargs = _kwargs(stream, model)
    if isinstance(client, AsyncMeshClient):
        result = asyncio.run(_acall(client, stream, kwargs))
    else:
        result = _call(client, stream, kwargs)
    result.elapsed_s = time.monotonic() - start
    return result


def _kwargs(stream: bool, model: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": PROMPT}]}
    if stream:
        kwargs |= {"stream": True, "stream_options": {"include_usage": True}}
    return kwargs


def _collect(chunks: list[Any]) -> CallResult:
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    usage = next((c.usage.model_dump() for c in reversed(chunks) if c.usage), None)
    # The model that finished the answer (a resumed stream's chunks name the model that made them).
    model = next((c.model for c in reversed(chunks) if c.choices and c.choices[0].delta.content), None)
    return CallResult(True, text, model=model, usage=usage)


def _call(client: MeshClient, stream: bool, kwargs: dict[str, Any]) -> CallResult:
    try:
        if stream:
            return _collect(list(client.chat.completions.create(**kwargs)))
        r = client.chat.completions.create(**kwargs)
        return CallResult(True, r.choices[0].message.content or "", model=r.model, usage=r.usage.model_dump())
    except Exception as exc:  # the bench scores errors, it does not crash on them
        return CallResult(False, error=exc)


async def _acall(client: AsyncMeshClient, stream: bool, kwargs: dict[str, Any]) -> CallResult:
    try:
        if stream:
            response = await client.chat.completions.create(**kwargs)
            return _collect([c async for c in response])
        r = await client.chat.completions.create(**kwargs)
        return CallResult(True, r.choices[0].message.content or "", model=r.model, usage=r.usage.model_dump())
    except Exception as exc:
        return CallResult(False, error=exc)
    finally:
        await client.close()
