"""The timed bodies: one server, a raw ``openai`` client and a ``MeshClient`` pointed at it.

Fairness: both clients of a case send the same messages to the same server over HTTP/1.1 keep-alive,
are warmed up the same way and are timed in alternating rounds (``harness.alternate``). The mesh is
built through the public ``create()`` / ``create_async()`` with a one-model pool on that server.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import openai

import modelmesh
from benchmarks.harness import CaseResult, Sample, Timer, alternate
from benchmarks.server import MODEL

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam

POOL = "chat-completion"
MESSAGES: list[ChatCompletionMessageParam] = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Say hello in one short sentence."},
]


@dataclass(frozen=True, slots=True)
class Server:
    base_url: str  # the OpenAI API root, as given to openai.OpenAI(base_url=...)
    api_key: str
    kind: str


@contextlib.contextmanager
def serve(kind: str) -> Iterator[Server]:
    """``minimal``: benchmarks.server in its own process; ``fake``: a modelmesh.testing.FakeProvider."""
    if kind == "fake":
        from modelmesh.testing import FakeProvider

        with FakeProvider(name="openai", models=[MODEL]) as fp:
            yield Server(fp.base_url, fp.api_key, kind)
        return
    proc = subprocess.Popen([sys.executable, "-m", "benchmarks.server"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield Server(f"http://127.0.0.1:{port}/v1", "sk-bench", kind)
    finally:
        proc.terminate()
        proc.wait(10)


def mesh_config(server: Server, pool_size: int = 1) -> dict[str, Any]:
    """A one-model pool on ``server``; with ``pool_size`` > 1, that model first and the rest never used
    (a discovered catalogue of hundreds of models: their cost must not show per request)."""
    models = [MODEL] + [f"{MODEL}-unused-{i}" for i in range(pool_size - 1)]
    provider = {"api_key": server.api_key, "base_url": server.base_url, "models": models}
    return {
        "providers": {"openai": provider},
        "pools": {POOL: {"capability": "chat-completion", "models": models}},
    }


def _sync_round(client: openai.OpenAI, model: str, n: int, *, stream: bool) -> Sample:
    create = client.chat.completions.create
    with Timer() as timer:
        for _ in range(n):
            if stream:
                for _chunk in create(model=model, messages=MESSAGES, stream=True):
                    pass
            else:
                create(model=model, messages=MESSAGES)
    return timer.per(n)


def sync_case(server: Server, *, stream: bool, requests: int, rounds: int) -> CaseResult:
    raw = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
    mesh = modelmesh.create(POOL, config=mesh_config(server))
    try:
        samples = alternate(
            lambda: _sync_round(raw, MODEL, requests, stream=stream),
            lambda: _sync_round(mesh, POOL, requests, stream=stream),
            rounds=rounds,
        )
    finally:
        raw.close()
        mesh.close()
    return CaseResult(
        name="streaming" if stream else "sequential",
        unit="stream (32 chunks)" if stream else "request",
        baseline_label="openai.OpenAI",
        candidate_label="MeshClient",
        target=1.05,  # issue 8: a routed request costs at most 5 % more than the plain SDK's
        ambition=1.02,
        notes={"requests_per_round": requests, "rounds": rounds},
        **samples,
    )


POOL_MARGIN_S = 50e-6  # what a 256-model pool may add per request over a one-model pool


def pool_case(server: Server, *, size: int, requests: int, rounds: int) -> CaseResult:
    """``MeshClient`` over a one-model pool (baseline) and over a ``size``-model pool (candidate)."""
    small = modelmesh.create(config=mesh_config(server))
    large = modelmesh.create(config=mesh_config(server, pool_size=size))
    try:
        samples = alternate(
            lambda: _sync_round(small, POOL, requests, stream=False),
            lambda: _sync_round(large, POOL, requests, stream=False),
            rounds=rounds,
        )
    finally:
        small.close()
        large.close()
    baseline = statistics.median(samples["baseline_s"])
    return CaseResult(
        name=f"pool-{size}",
        unit="request",
        baseline_label="MeshClient, pool of 1",
        candidate_label=f"MeshClient, pool of {size}",
        target=1 + POOL_MARGIN_S / baseline,  # within +50 µs of the one-model pool
        notes={"requests_per_round": requests, "rounds": rounds, "margin_us": POOL_MARGIN_S * 1e6},
        **samples,
    )


async def _gather_round(client: openai.AsyncOpenAI, model: str, width: int, repeats: int) -> Sample:
    create = client.chat.completions.create
    with Timer() as timer:
        for _ in range(repeats):
            await asyncio.gather(*(create(model=model, messages=MESSAGES) for _ in range(width)))
    return timer.per(repeats)


def concurrent_case(server: Server, *, width: int, repeats: int, rounds: int) -> CaseResult:
    # One loop for both clients; each round runs to completion on it (alternate() is synchronous).
    loop = asyncio.new_event_loop()
    raw = openai.AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
    mesh = modelmesh.create_async(POOL, config=mesh_config(server))
    try:
        samples = alternate(
            lambda: loop.run_until_complete(_gather_round(raw, MODEL, width, repeats)),
            lambda: loop.run_until_complete(_gather_round(mesh, POOL, width, repeats)),
            rounds=rounds,
        )
    finally:
        loop.run_until_complete(raw.close())
        loop.run_until_complete(mesh.close())
        loop.close()
    return CaseResult(
        name=f"concurrent-{width}",
        unit=f"gather of {width}",
        baseline_label="openai.AsyncOpenAI",
        candidate_label="AsyncMeshClient",
        target=1.00,  # issue 8: many concurrent requests through the mesh are no slower than without
        ambition=0.90,
        notes={"gathers_per_round": repeats, "rounds": rounds},
        **samples,
    )
