"""pytest plugin of ``modelmesh.testing``: the ``fake_provider`` fixture.

Registered as a ``pytest11`` entry point, so it is loaded in every pytest session of a project that
installs ModelMesh; it therefore imports nothing heavy (no Starlette, no uvicorn) until a test asks
for a fake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from modelmesh.testing.provider import FakeProvider

FakeProviderFactory = Callable[..., FakeProvider]


@pytest.fixture
def fake_provider() -> Iterator[FakeProviderFactory]:
    """A factory of started :class:`FakeProvider` s, all stopped when the test ends.

    ``fake_provider(name="alpha", models=["alpha-small"], dialect="anthropic")``; without a name the
    fakes are called ``fake-1``, ``fake-2``, ... in the order made.
    """
    started: list[FakeProvider] = []

    def make(**kwargs: Any) -> FakeProvider:
        kwargs.setdefault("name", f"fake-{len(started) + 1}")
        provider = FakeProvider(**kwargs)
        started.append(provider)
        return provider.start()

    try:
        yield make
    finally:
        for provider in started:
            provider.stop()
