"""Fixtures for the tests of ``modelmesh.testing``: started fakes in both dialects and clients for them.

The ``fake_provider`` fixture is imported from the plugin module rather than declared with
``pytest_plugins`` here: pytest refuses ``pytest_plugins`` in a conftest below the rootdir when the
whole suite runs. Once the plugin is registered as a ``pytest11`` entry point this import is redundant.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx2
import openai
import pytest

from modelmesh.testing import FakeProvider
from modelmesh.testing.pytest_plugin import fake_provider  # noqa: F401

ANTHROPIC_VERSION = "2023-06-01"


@pytest.fixture
def openai_fake() -> Iterator[FakeProvider]:
    with FakeProvider(name="alpha", models=["alpha-small", "alpha-large"], dialect="openai") as fp:
        yield fp


@pytest.fixture
def client(openai_fake: FakeProvider) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=openai_fake.base_url, api_key=openai_fake.api_key, max_retries=0) as c:
        yield c


@pytest.fixture
def anthropic_fake() -> Iterator[FakeProvider]:
    with FakeProvider(name="claude", models=["claude-small"], dialect="anthropic") as fp:
        yield fp


@pytest.fixture
def anthropic_http(anthropic_fake: FakeProvider) -> Iterator[httpx2.Client]:
    headers = {"x-api-key": anthropic_fake.api_key, "anthropic-version": ANTHROPIC_VERSION}
    with httpx2.Client(base_url=anthropic_fake.base_url, headers=headers, timeout=5) as http:
        yield http


@pytest.fixture
def openai_http(openai_fake: FakeProvider) -> Iterator[httpx2.Client]:
    headers = {"authorization": f"Bearer {openai_fake.api_key}"}
    with httpx2.Client(base_url=openai_fake.host_url, headers=headers, timeout=5) as http:
        yield http
