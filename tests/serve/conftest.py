"""The proxy under a real uvicorn server in a thread, over the two fake providers of ``tests/conftest.py``.

Each test gets its own proxy on a free port of 127.0.0.1, stopped at the end of the test so mesh state
never leaks between tests. ``proxy(api_key=..., config=..., **settings)`` starts one.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
import uvicorn

from modelmesh.builder import build_mesh
from modelmesh.client import build_config
from modelmesh.mesh import ModelMesh
from modelmesh.serve import ProxySettings, create_app
from modelmesh.serve.protocols import default_protocol
from modelmesh.testing import FakeProvider

HELLO = [{"role": "user", "content": "Hello!"}]
KEY = "proxy-secret-key-123"
FAST_POOL = {
    "retry": {"max_attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.02},
    "deactivation": {"failure_threshold": 1},  # one failed request puts a model on standby
    "timeouts": {"connect_s": 1, "read_s": 0.5, "first_token_s": 0.5, "stall_s": 0.5, "total_s": 5},
}


class ServerThread:
    """An ASGI app under uvicorn in a thread on a free loopback port (``options``: uvicorn.Config)."""

    def __init__(self, app: Any, **options: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.bind(("127.0.0.1", 0))
        self.port = int(self._socket.getsockname()[1])
        options = {"lifespan": "on", "log_config": None, "access_log": False, **options}
        self._server = uvicorn.Server(uvicorn.Config(app, **options))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._socket]})
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.005)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(10)
        self._socket.close()


class ProxyServer(ServerThread):
    """The proxy; ``url`` is the OpenAI base URL to give clients."""

    def __init__(self, mesh: ModelMesh, api_key: str | None, settings: ProxySettings, **options: Any) -> None:
        self.mesh = mesh
        options.setdefault("http", default_protocol())  # the parser `modelmesh serve` runs on
        super().__init__(create_app(mesh, api_key=api_key, settings=settings), **options)

    @property
    def url(self) -> str:
        return f"{self.origin}/v1"

    def client(self, api_key: str = "unused", **options: Any) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=api_key, **options)

    def stop(self) -> None:
        super().stop()
        self.mesh.close()


Proxy = Callable[..., ProxyServer]


def mesh_config(openai_fake: FakeProvider, groq_fake: FakeProvider, **extra: Any) -> dict[str, Any]:
    providers = {
        "openai": {
            "api_key": openai_fake.api_key,
            "base_url": openai_fake.base_url,
            "models": ["gpt-4o", "text-embedding-3-small", "tts-1"],
        },
        "groq": {
            "api_key": groq_fake.api_key,
            "base_url": groq_fake.base_url,
            "models": ["llama-3.3-70b-versatile"],
        },
    }
    pools = {
        "chat-completion": {"capability": "chat-completion", **FAST_POOL},
        "embeddings": {"capability": "embeddings"},
        "text-to-speech": {"capability": "text-to-speech"},
    }
    return {"providers": providers, "pools": pools, **extra}


@pytest.fixture
def proxy(fakes: tuple[FakeProvider, FakeProvider]) -> Iterator[Proxy]:
    """``proxy(api_key=None, config=None, uvicorn=None, **settings)`` starts a proxy over both fakes."""
    servers: list[ProxyServer] = []

    def start(
        api_key: str | None = None,
        config: dict[str, Any] | None = None,
        uvicorn: dict[str, Any] | None = None,
        **settings: Any,
    ) -> ProxyServer:
        mesh = build_mesh(build_config([], config=config or mesh_config(*fakes)))
        servers.append(ProxyServer(mesh, api_key, ProxySettings(**settings), **(uvicorn or {})))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def client(proxy: Proxy) -> Iterator[openai.OpenAI]:
    with proxy().client() as sdk:
        yield sdk


def chat(client: openai.OpenAI, stream: bool, model: str = "chat-completion") -> tuple[str, str]:
    """(model, text) of one chat answer, streamed or not."""
    if not stream:
        response = client.chat.completions.create(model=model, messages=HELLO)
        return response.model, response.choices[0].message.content or ""
    with client.chat.completions.create(model=model, messages=HELLO, stream=True) as events:
        chunks = list(events)
    return chunks[-1].model, "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def access_lines(caplog: pytest.LogCaptureFixture, fragment: str, timeout_s: float = 2.0) -> list[str]:
    """Server-side log lines once one contains ``fragment`` (logged just after the reply is sent)."""
    deadline = time.monotonic() + timeout_s
    while True:
        lines = [r.getMessage() for r in caplog.records if r.name.startswith(("modelmesh", "uvicorn"))]
        if any(fragment in line for line in lines) or time.monotonic() > deadline:
            return lines
        time.sleep(0.01)
