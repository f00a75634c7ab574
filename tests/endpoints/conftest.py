"""Fixtures for the non-chat endpoints: fakes that serve every catalogue model of their preset.

Each fake is detected through its preset's real environment variables (``OPENAI_API_KEY`` +
``OPENAI_BASE_URL``, ...), so these tests also prove that detection reaches every endpoint.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from modelmesh import AsyncMeshClient, MeshClient, create, create_async
from modelmesh.providers import catalog
from modelmesh.testing import FakeProvider

PRESETS = ("openai", "together", "mistral", "groq", "deepseek", "anthropic")
FAST = {"max_attempts": 2, "backoff_base_s": 0.01, "backoff_max_s": 0.02}


@pytest.fixture(scope="session")
def endpoint_fakes() -> Iterator[dict[str, FakeProvider]]:
    """One fake per preset, serving every model that preset's catalogue lists."""
    fakes = {
        name: FakeProvider(
            name=name,
            models=[m.id for m in catalog.default_models(name)],
            api_key=f"sk-test-{name}-endpoints",
            dialect="anthropic" if name == "anthropic" else "openai",
        ).start()
        for name in PRESETS
    }
    yield fakes
    for fake in fakes.values():
        fake.stop()


@pytest.fixture
def providers(
    endpoint_fakes: dict[str, FakeProvider], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., dict[str, FakeProvider]]:
    """``providers("openai", "together")`` puts those fakes in the environment (reset) and returns them."""

    def use(*names: str) -> dict[str, FakeProvider]:
        chosen = {name: endpoint_fakes[name] for name in names}
        for name, fake in chosen.items():
            fake.reset()
            for key, value in fake.env(name.upper()).items():
                monkeypatch.setenv(key, value)
        return chosen

    yield use
    for fake in endpoint_fakes.values():
        fake.reset()


@pytest.fixture(params=["sync", "async"])
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def client_for(mode: str) -> AsyncIterator[Callable[..., Any]]:
    """``client_for("text-embeddings")`` -> a MeshClient or AsyncMeshClient (by ``mode``), closed after."""
    made: list[MeshClient | AsyncMeshClient] = []

    def make(*capabilities: str, fast: bool = True, **kwargs: Any) -> Any:
        if fast and capabilities and "config" not in kwargs:
            # Detected providers, the given pools, quick retries so failover tests stay fast.
            pools = {c: {"capability": c, "retry": FAST} for c in capabilities}
            kwargs["config"] = {"pools": pools}
            capabilities = ()
        client = (create if mode == "sync" else create_async)(*capabilities, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        result = client.close()
        if inspect.isawaitable(result):
            await result


async def resolve(value: Any) -> Any:
    """The value of a sync call, or the awaited value of an async one (tests run both modes alike)."""
    return await value if inspect.isawaitable(value) else value
