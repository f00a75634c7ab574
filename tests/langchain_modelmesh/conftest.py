"""Fixtures for the LangChain integration: local fake providers and mesh configs pointing at them.

The fakes are session-scoped (starting a server costs ~0.1 s) and reset around each test that uses
them through ``lc_fakes``; every model under test gets a fresh mesh from ``mesh_config``, so routing
state never leaks between tests. Nothing here reads provider keys from the environment.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from modelmesh.testing import FakeProvider

CHAT_MODELS = ["gpt-4o", "gpt-4o-mini"]
EMBEDDING_MODEL = "text-embedding-3-small"
BACKUP_MODEL = "backup-large"


@dataclass(frozen=True)
class LangChainFakes:
    """The primary fake (``openai``: two chat models and an embeddings model) and a second provider."""

    primary: FakeProvider
    backup: FakeProvider

    def reset(self) -> None:
        self.primary.reset()
        self.backup.reset()


def mesh_config(fakes: LangChainFakes, *, backup: bool = False, **pool: Any) -> dict[str, Any]:
    """A config with the ``chat-completion`` and ``text-embeddings`` pools over the fakes.

    ``backup=True`` adds the second provider to the chat pool; ``pool`` settings go to the chat pool.
    """
    providers: dict[str, Any] = {
        "openai": {
            "api_key": fakes.primary.api_key,
            "base_url": fakes.primary.base_url,
            "models": [*CHAT_MODELS, EMBEDDING_MODEL],
        }
    }
    if backup:
        providers["backup"] = {
            "api_key": fakes.backup.api_key,
            "base_url": fakes.backup.base_url,
            "models": [BACKUP_MODEL],
        }
    return {
        "providers": providers,
        "pools": {
            "chat-completion": {"capability": "chat-completion", **pool},
            "text-embeddings": {"capability": "text-embeddings"},
        },
    }


@pytest.fixture(scope="session")
def lc_fakes_session() -> Iterator[LangChainFakes]:
    with (
        FakeProvider(name="openai", models=[*CHAT_MODELS, EMBEDDING_MODEL]) as primary,
        FakeProvider(name="backup", models=[BACKUP_MODEL]) as backup,
    ):
        yield LangChainFakes(primary, backup)


@pytest.fixture
def lc_fakes(lc_fakes_session: LangChainFakes) -> Iterator[LangChainFakes]:
    """The session's fakes, with no faults and no recorded requests at the start of the test."""
    lc_fakes_session.reset()
    yield lc_fakes_session
    lc_fakes_session.reset()


@pytest.fixture
def config(lc_fakes: LangChainFakes) -> dict[str, Any]:
    """A chat + embeddings config over the primary fake only."""
    return mesh_config(lc_fakes)


@pytest.fixture
def failover_config(lc_fakes: LangChainFakes) -> dict[str, Any]:
    """Both fakes in the chat pool; one failed attempt puts a model on standby (no retries)."""
    return mesh_config(
        lc_fakes, backup=True, deactivation={"failure_threshold": 1}, retry={"max_attempts": 1}
    )
