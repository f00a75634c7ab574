"""The local wall: two fakes answering the canonical text, shared by the failover tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from modelmesh.testing import FakeProvider
from tests.failover.bench import FALLBACK, NO_PREFILL, Wall, canonical_responder
from tests.failover.scenarios import SCENARIOS


@pytest.fixture(scope="package")
def wall() -> Iterator[Wall]:
    models = [s.primary for s in SCENARIOS] + ["fb-s15-flap"]
    primary = FakeProvider("primary", models=models, responder=canonical_responder)
    fallback = FakeProvider("fallback", models=[FALLBACK, NO_PREFILL], responder=canonical_responder)
    with primary, fallback:
        yield Wall(primary, fallback)
