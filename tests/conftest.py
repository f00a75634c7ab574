"""Shared fixtures: an environment free of real provider keys, and local fake providers."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from modelmesh.providers import catalog
from modelmesh.testing import FakeProvider

OPENAI_MODELS = ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small", "tts-1", "whisper-1", "dall-e-3"]
GROQ_MODELS = ["llama-3.3-70b-versatile", "llama-3.1-8b-instant"]


@pytest.fixture(autouse=True)
def no_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's real keys must never reach a test (and never the internet)."""
    for preset in catalog.presets().values():
        for name in (preset.key_env, preset.base_url_env):
            if name:
                monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def openai_fake() -> Iterator[FakeProvider]:
    with FakeProvider(name="openai", models=OPENAI_MODELS, api_key="sk-test-openai-123456") as fake:
        yield fake


@pytest.fixture(scope="session")
def groq_fake() -> Iterator[FakeProvider]:
    with FakeProvider(name="groq", models=GROQ_MODELS, api_key="gsk-test-groq-123456") as fake:
        yield fake


@pytest.fixture(scope="session")
def anthropic_fake() -> Iterator[FakeProvider]:
    models = ["claude-sonnet-4-20250514", "claude-haiku-4-5-20251001"]
    with FakeProvider(
        name="anthropic", models=models, dialect="anthropic", api_key="sk-ant-test-123456"
    ) as fake:
        yield fake


@pytest.fixture
def fakes(
    openai_fake: FakeProvider, groq_fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[FakeProvider, FakeProvider]]:
    """Two OpenAI-dialect fakes detected as the openai and groq providers, reset for each test."""
    for fake, prefix in ((openai_fake, "OPENAI"), (groq_fake, "GROQ")):
        fake.reset()
        for key, value in fake.env(prefix).items():
            monkeypatch.setenv(key, value)
    yield openai_fake, groq_fake
    openai_fake.reset()
    groq_fake.reset()


def pool_config(**pool: Any) -> dict[str, Any]:
    """A config whose providers are auto-detected and whose one chat pool has the given settings."""
    pool.setdefault("capability", "chat-completion")
    return {"pools": {"chat-completion": pool}}


def groq_and_openai(openai_fake: FakeProvider, groq_fake: FakeProvider) -> dict[str, Any]:
    """The ``providers`` section for the two fakes: groq's llama-3.1-8b-instant, openai's gpt-4o."""
    return {
        "groq": {
            "api_key": groq_fake.api_key,
            "base_url": groq_fake.base_url,
            "models": ["llama-3.1-8b-instant"],
        },
        "openai": {"api_key": openai_fake.api_key, "base_url": openai_fake.base_url, "models": ["gpt-4o"]},
    }


NODE_MODULES = Path(__file__).resolve().parent.parent / ".venv" / "node" / "node_modules"


@pytest.fixture(scope="session")
def openai_node() -> Path:
    """The ``node_modules`` holding the real openai-node SDK, installed by ``make test`` (never by a test).

    Without node it skips; in CI (``CI=true``) a machine with node but without the package fails."""
    if shutil.which("node") is None:
        pytest.skip("needs node (the openai-node client tests)")
    if not (NODE_MODULES / "openai" / "package.json").exists():
        message = f"openai-node is not installed in {NODE_MODULES}: run `make test` (it installs it with npm)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return NODE_MODULES
