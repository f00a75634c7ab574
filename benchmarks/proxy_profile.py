"""``python -m benchmarks.proxy_profile``: where one ``modelmesh serve`` worker spends its CPU under load.

Runs the real proxy process (``python -m cProfile -o FILE -m modelmesh.cli serve ...``, as
``benchmarks.proxy`` starts it) against the same upstream and closed-loop load, stops it with SIGTERM
(the proxy drains and returns, so cProfile writes its file), and prints the functions with the most own
time and the most cumulative time, plus the share of request time per layer (HTTP server, ASGI app,
upstream client). cProfile only sees the event loop's thread and inflates small functions: read the
numbers as a ranking, and the req/s under the profiler as a lower bound.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import pstats
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

from benchmarks.cases import serve
from benchmarks.load import closed_loop
from benchmarks.proxy import modelmesh_serve

Key = tuple[str, int, str]
# (layer, a substring of the file path): a function's own time is counted in the first layer it matches.
LAYERS = (
    (
        "upstream client (modelmesh/upstream, httpx2, httpcore2)",
        ("modelmesh/upstream/", "HttpResponseParser", "httpx2/", "httpcore2/", "anyio/", "sniffio/"),
    ),
    (
        "HTTP server (uvicorn, httptools/h11, modelmesh/serve/protocols)",
        ("uvicorn/", "h11/", "httptools", "modelmesh/serve/protocols", "modelmesh/serve/runner"),
    ),
    ("ASGI app (starlette, modelmesh/serve)", ("starlette/", "modelmesh/serve/", "prometheus_client/")),
    ("state store (sqlite)", ("modelmesh/state/", "sqlite3")),
    ("mesh (routing, exchange, engine)", ("modelmesh/",)),
    ("event loop (asyncio, uvloop, selectors)", ("asyncio/", "uvloop", "selectors", "select.")),
)


def profile(concurrency: int, seconds: float, top: int, store: str = "memory") -> str:
    with serve("minimal") as upstream, tempfile.NamedTemporaryFile(suffix=".prof") as out:
        launcher = ("-m", "cProfile", "-o", out.name)
        with modelmesh_serve(upstream, store=store, launcher=launcher) as (port, _):
            path = "/v1/chat/completions"
            asyncio.run(closed_loop(port, path, concurrency, 0.5))  # warm-up: imports, connections
            latencies, errors, elapsed = asyncio.run(closed_loop(port, path, concurrency, seconds))
        text = io.StringIO()
        stats = pstats.Stats(out.name, stream=text)
        rate = len(latencies) / elapsed
        head = f"concurrency {concurrency}: {rate:,.0f} req/s under cProfile, {errors} errors"
        text.write(head + "\n\n" + layers(stats) + "\n")
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
    return text.getvalue()


def layers(stats: pstats.Stats) -> str:
    """Own time per layer, import time left out (paid once, at startup).

    A function of no layer (a built-in, ``socket.py``, ``enum.py``) counts in its main caller's layer.
    """
    table = stats.stats  # type: ignore[attr-defined]
    totals: dict[str, float] = {}
    for key, (_, _, own, _, _) in table.items():
        name = _layer(table, key, 0)
        if name is not None:
            totals[name] = totals.get(name, 0.0) + own
    whole = sum(totals.values()) or 1.0
    rows = sorted(totals.items(), key=lambda item: -item[1])
    return "\n".join(f"{seconds / whole:6.1%}  {seconds:7.3f} s  {name}" for name, seconds in rows)


def _layer(table: dict[Key, Any], key: Key, depth: int) -> str | None:
    path, _, function = key
    if "importlib" in path or "<frozen" in path:
        return None
    where = f"{path} {function}"  # a built-in's path is "~": its name says "select.epoll"
    name = next((layer for layer, marks in LAYERS if any(m in where for m in marks)), None)
    callers = table[key][4]
    if name is not None or depth > 8 or not callers:
        return name or "other"
    main_caller = max(callers, key=lambda caller: callers[caller][2])
    return _layer(table, main_caller, depth + 1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.proxy_profile", description=__doc__)
    parser.add_argument("--concurrency", type=int, default=64, help="closed-loop clients (default: 64)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds (default: 5)")
    parser.add_argument("--top", type=int, default=30, help="functions listed per ranking (default: 30)")
    parser.add_argument(
        "--store", choices=("memory", "sqlite"), default="memory", help="the state store (default: memory)"
    )
    args = parser.parse_args(argv)
    print(profile(args.concurrency, args.seconds, args.top, args.store))
    return 0


if __name__ == "__main__":
    sys.exit(main())
