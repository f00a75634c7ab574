"""Where a ``MeshClient`` request spends its time: cProfile of the raw SDK and the mesh, side by side.

``python -m benchmarks --profile`` prints, per request: the total for each client, the functions whose
own time grows the most under the mesh (``file:line(function)``), and the cumulative cost of
ModelMesh's own functions. cProfile inflates small functions, so read the numbers as a ranking.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from collections.abc import Callable
from typing import Any

import openai

import modelmesh
from benchmarks.cases import MESSAGES, POOL, Server, mesh_config
from benchmarks.server import MODEL

Key = tuple[str, int, str]


def _profile(call: Callable[[], Any], requests: int) -> tuple[float, dict[Key, tuple[int, float, float]]]:
    for _ in range(50):
        call()
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    for _ in range(requests):
        call()
    profiler.disable()
    total = (time.perf_counter() - start) / requests
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    return total, {key: (value[1], value[2], value[3]) for key, value in stats.items()}


def _where(key: Key) -> str:
    path, line, name = key
    for marker in ("site-packages/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{line}({name})"


def profile_mesh(server: Server, requests: int = 1000, top: int = 20) -> str:
    raw = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
    mesh = modelmesh.create(POOL, config=mesh_config(server))
    lines: list[str] = []
    try:
        for stream in (False, True):
            n = requests if not stream else requests // 4

            def call(client: openai.OpenAI, model: str, stream: bool = stream) -> Callable[[], Any]:
                def once() -> None:
                    result = client.chat.completions.create(model=model, messages=MESSAGES, stream=stream)
                    if stream:
                        for _chunk in result:  # type: ignore[union-attr]
                            pass

                return once

            raw_total, raw_stats = _profile(call(raw, MODEL), n)
            mesh_total, mesh_stats = _profile(call(mesh, POOL), n)
            kind = "streamed (32 chunks)" if stream else "non-streamed"
            lines.append(f"== {kind}: {n} requests under cProfile ==")
            lines.append(
                f"per request: raw {raw_total * 1e6:.0f} µs, mesh {mesh_total * 1e6:.0f} µs "
                f"(+{(mesh_total - raw_total) * 1e6:.0f} µs, {mesh_total / raw_total:.2f}x)"
            )
            lines += _growth(raw_stats, mesh_stats, n, top)
            lines += _own(mesh_stats, n, top)
            lines.append("")
    finally:
        raw.close()
        mesh.close()
    return "\n".join(lines)


def _growth(
    raw: dict[Key, tuple[int, float, float]], mesh: dict[Key, tuple[int, float, float]], n: int, top: int
) -> list[str]:
    rows = []
    for key, (calls, tottime, _cum) in mesh.items():
        base_calls, base_tot, _ = raw.get(key, (0, 0.0, 0.0))
        rows.append(((tottime - base_tot) / n, (calls - base_calls) / n, key))
    rows.sort(reverse=True)
    out = [f"-- top {top} functions by extra own time per request (mesh minus raw) --"]
    out += [f"{extra * 1e6:8.1f} µs  {calls:+6.1f} calls  {_where(key)}" for extra, calls, key in rows[:top]]
    return out


def _own(mesh: dict[Key, tuple[int, float, float]], n: int, top: int) -> list[str]:
    rows = [
        (cum / n, tot / n, calls / n, key)
        for key, (calls, tot, cum) in mesh.items()
        if "modelmesh/" in key[0] and "benchmarks" not in key[0]
    ]
    rows.sort(reverse=True)
    out = [f"-- top {top} ModelMesh functions by cumulative time per request --"]
    out += [
        f"{cum * 1e6:8.1f} µs cum  {tot * 1e6:7.1f} µs own  {calls:5.1f} calls  {_where(key)}"
        for cum, tot, calls, key in rows[:top]
    ]
    return out
