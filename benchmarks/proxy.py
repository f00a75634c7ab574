"""``make bench-proxy`` (= ``python -m benchmarks.proxy --litellm``): ``modelmesh serve`` side by side.

Every target is measured in the same run against the same upstream (``benchmarks.server``, its own
process): the bare upstream, ``modelmesh serve`` (its own process, one worker, proxy key on, access log
off), with ``--workers N`` also one worker and N workers on a SQLite state store (what N > 1 needs, so
the scaling is read between those two) and, with ``--litellm``, the LiteLLM proxy (``litellm[proxy]``
installed by this script into ``benchmarks/.litellm-venv``; one worker, master key, no database, no
callbacks, access log off).
The load (``benchmarks.load``) is raw asyncio HTTP/1.1 with a pre-rendered non-streamed chat request, so
its own cost stays far below an SDK's: closed loop at concurrency 1, 16, 64 and 256, then open loop at
50, 200 and 500 requests/s (latency from each request's scheduled start; over 5 s counts as an error).
Reported per load: requests/s, p50/p99 latency, errors, the latency added over the bare upstream, each
proxy's CPU seconds per 1,000 requests and RSS (summed over a proxy's worker processes), and modelmesh's
throughput as a ratio to LiteLLM's (and, for ``--workers N``, to one worker's on the same store).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.cases import MODEL, Server, serve
from benchmarks.load import KEY, closed_loop, open_loop

LITELLM_VENV = Path(__file__).resolve().parent / ".litellm-venv"
# uvicorn's access log off for LiteLLM, as for modelmesh serve: both are measured without per-request logging.
LITELLM_LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "loggers": {"uvicorn.access": {"level": "WARNING"}},
}
SQLITE_ONE = "modelmesh serve, sqlite"
CONCURRENCY = (1, 16, 64, 256)
RATES = (50, 200, 500)  # open loop, requests per second


@dataclass(frozen=True, slots=True)
class Result:
    target: str
    mode: str  # closed (load = concurrency) | open (load = requests per second)
    load: int
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    cpu_s_per_1000: float | None = None
    rss_mb: float | None = None


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (a supervisor and its workers)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in (task / "children").read_text().split():
                pids += _tree(int(child))
    return pids


def _cpu_s(pid: int) -> float:
    total = 0
    for each in _tree(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    total = 0
    for each in _tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


def measure(target: str, port: int, mode: str, load: int, seconds: float, pid: int | None) -> Result:
    path = "/v1/chat/completions"
    asyncio.run(closed_loop(port, path, min(load, 64), min(seconds, 0.5)))  # warm-up: connections, caches
    cpu_before = _cpu_s(pid) if pid else 0.0
    if mode == "closed":
        latencies, errors, elapsed = asyncio.run(closed_loop(port, path, load, seconds))
    else:
        latencies, errors, elapsed = asyncio.run(open_loop(port, path, load, seconds))
    cpu = (_cpu_s(pid) - cpu_before) if pid else None
    ordered = sorted(latencies) or [float("nan")]
    n = len(latencies)
    return Result(
        target,
        mode,
        load,
        n,
        errors,
        round(elapsed, 2),
        round(n / elapsed, 1),
        round(statistics.median(ordered) * 1000, 3),
        round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 3),
        round(cpu / n * 1000, 3) if cpu is not None and n else None,
        round(_rss_mb(pid), 1) if pid else None,
    )


@contextmanager
def modelmesh_serve(
    upstream: Server, workers: int = 1, store: str = "memory", launcher: Sequence[str] = ()
) -> Iterator[tuple[int, int]]:
    """``modelmesh serve`` over ``upstream`` in its own process(es): (port, pid of the parent).

    ``launcher``: arguments between the interpreter and ``-m modelmesh.cli`` (``-m cProfile -o FILE``).
    """
    config: dict[str, object] = {
        "providers": {"openai": {"api_key": upstream.api_key, "base_url": upstream.base_url}},
        "pools": {"chat-completion": {"capability": "chat-completion", "models": [MODEL]}},
    }
    with contextlib.ExitStack() as stack:
        if store == "sqlite":  # what several workers need: a store they share
            state = stack.enter_context(tempfile.TemporaryDirectory())
            config["storage"] = {"store": "sqlite", "path": f"{state}/state.sqlite3"}
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
            json.dump(config, file)
        port = _free_port()
        argv = [
            sys.executable,
            *launcher,
            "-m",
            "modelmesh.cli",
            "serve",
            "--config",
            file.name,
            "--port",
            str(port),
        ]
        argv += ["--access-log", "off", "--max-concurrency", "4096", "--workers", str(workers)]
        env = {**os.environ, "MODELMESH_PROXY_KEY": KEY}
        with _process(argv, env, port, "/health/live", [file.name]) as pid:
            yield port, pid


@contextmanager
def litellm_proxy(upstream: Server) -> Iterator[tuple[int, int]]:
    """The LiteLLM proxy over ``upstream`` in its own process: (port, pid)."""
    config = (
        "model_list:\n  - model_name: chat-completion\n    litellm_params:\n"
        f"      model: openai/{MODEL}\n      api_base: {upstream.base_url}\n"
        f"      api_key: {upstream.api_key}\n"
    )
    paths = []
    for suffix, text in ((".yaml", config), (".json", json.dumps(LITELLM_LOGGING))):
        with tempfile.NamedTemporaryFile("w", suffix=suffix, delete=False) as file:
            file.write(text)
        paths.append(file.name)
    port = _free_port()
    argv = [str(_litellm()), "--config", paths[0], "--port", str(port), "--num_workers", "1"]
    argv += ["--telemetry", "False", "--log_config", paths[1]]
    env = {
        **os.environ,
        "LITELLM_MASTER_KEY": KEY,
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        "LITELLM_LOG": "ERROR",
    }
    with _process(argv, env, port, "/health/liveliness", paths) as pid:
        yield port, pid


def _litellm() -> Path:
    """The ``litellm`` command of a venv of its own (its dependencies must not touch ours)."""
    command = LITELLM_VENV / "bin" / "litellm"
    if not command.exists():
        print(f"installing litellm[proxy] into {LITELLM_VENV} (a few minutes, once)", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        pip = [str(LITELLM_VENV / "bin" / "python"), "-m", "pip", "install", "-q", "litellm[proxy]"]
        subprocess.run(pip, check=True)
    return command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _process(argv: list[str], env: dict[str, str], port: int, health: str, files: list[str]) -> Iterator[int]:
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_ready(port, health, proc)
        yield proc.pid
    finally:
        proc.terminate()
        proc.wait(30)
        for path in files:
            os.unlink(path)


def _wait_ready(port: int, path: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    request = f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
                sock.sendall(request)
                if sock.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{proc.args!r} did not start on port {port}")


def run(loads: Sequence[tuple[str, int]], seconds: float, *, litellm: bool, workers: int = 1) -> list[Result]:
    results: list[Result] = []
    with serve("minimal") as upstream, contextlib.ExitStack() as stack:
        targets: list[tuple[str, int, int | None]] = [("upstream", _port_of(upstream.base_url), None)]
        targets.append(("modelmesh serve", *stack.enter_context(modelmesh_serve(upstream))))
        if workers > 1:
            one = stack.enter_context(modelmesh_serve(upstream, 1, "sqlite"))
            targets.append((SQLITE_ONE, *one))
            several = stack.enter_context(modelmesh_serve(upstream, workers, "sqlite"))
            targets.append((f"modelmesh serve --workers {workers}, sqlite", *several))
        if litellm:
            targets.append(("litellm", *stack.enter_context(litellm_proxy(upstream))))
        for mode, load in loads:
            for name, port, pid in targets:
                results.append(measure(name, port, mode, load, seconds, pid))
    return results


def _port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1].split("/")[0])


def report(results: list[Result]) -> str:
    """Markdown tables, one per load mode; "added" is over the bare upstream at the same load."""
    tables = []
    for mode, label in (("closed", "concurrency"), ("open", "req/s offered")):
        rows = [r for r in results if r.mode == mode]
        if rows:
            tables.append(_table(rows, label))
    return "\n\n".join(tables)


def _table(results: list[Result], label: str) -> str:
    columns = [label, "target", "req/s", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms"]
    columns += ["errors", "CPU s / 1k req", "RSS MB", "req/s vs LiteLLM", "req/s vs 1 worker"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    bare = {r.load: r for r in results if r.target == "upstream"}
    litellm = {r.load: r for r in results if r.target == "litellm"}
    one = {r.load: r for r in results if r.target == SQLITE_ONE}
    for r in results:
        base = bare[r.load]
        added = ("", "") if r is base else (f"{r.p50_ms - base.p50_ms:.2f}", f"{r.p99_ms - base.p99_ms:.2f}")
        cells = [str(r.load), r.target, f"{r.rps:,.0f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}", *added]
        ratio = scale = ""
        if r.target == "modelmesh serve" and r.load in litellm and litellm[r.load].rps:
            ratio = f"{r.rps / litellm[r.load].rps:.1f}x"
        if r.target.startswith("modelmesh serve --workers") and r.load in one and one[r.load].rps:
            scale = f"{r.rps / one[r.load].rps:.2f}x"
        cells += [str(r.errors), _blank(r.cpu_s_per_1000), _blank(r.rss_mb), ratio, scale]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _blank(value: float | None) -> str:
    return "" if value is None else str(value)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.proxy", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per case (default: 5)")
    parser.add_argument("--quick", action="store_true", help="1 s per case (smoke run, noisy numbers)")
    parser.add_argument("--json", metavar="PATH", type=Path, help="also write the results as JSON here")
    parser.add_argument("--litellm", action="store_true", help="also measure the LiteLLM proxy (installs it)")
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N", help="also measure modelmesh serve --workers N (N > 1)"
    )
    args = parser.parse_args(argv)
    loads = [("closed", c) for c in CONCURRENCY] + [("open", r) for r in RATES]
    results = run(loads, 1.0 if args.quick else args.seconds, litellm=args.litellm, workers=args.workers)
    print(report(results))
    if args.json:
        command = "python -m benchmarks.proxy " + " ".join(sys.argv[1:])
        payload = {
            "command": command,
            "machine": platform.platform(),
            "results": [asdict(r) for r in results],
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
    # LiteLLM's errors are a finding of the run, not its failure.
    return 1 if any(r.errors for r in results if r.target != "litellm") else 0


if __name__ == "__main__":
    sys.exit(main())
