"""``modelmesh.logging.v1``: what the mesh did, on the standard ``logging`` hierarchy under ``modelmesh``."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from modelmesh import MeshClient, create
from modelmesh.observability.logging import LoggingObserver
from modelmesh.testing import Fault

HELLO = [{"role": "user", "content": "hi"}]
KEY_MESSAGE = "Incorrect API key provided: sk-test-openai-123456"


def _client(connector: str = "modelmesh.logging.v1") -> MeshClient:
    return create("chat-completion", config={"observability": {"connector": connector}})


@pytest.fixture
def root_handler() -> Iterator[io.StringIO]:
    """What ``logging.basicConfig()`` sets up: a stream handler on the root logger at WARNING."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_short_alias_and_id_resolve_to_the_logging_output(fakes) -> None:  # type: ignore[no-untyped-def]
    for connector in ("logging", "modelmesh.logging.v1"):
        assert isinstance(_client(connector).mesh.observer, LoggingObserver)


def test_basic_config_shows_failovers_and_deactivations_only(fakes, root_handler: io.StringIO) -> None:  # type: ignore[no-untyped-def]
    client = _client()
    fakes[0].fail_next(1, Fault.status(401, message=KEY_MESSAGE))
    client.chat.completions.create(model="chat-completion", messages=HELLO)
    lines = root_handler.getvalue().splitlines()
    failover = "WARNING modelmesh.failover chat-completion: failover openai.gpt-4o -> groq."
    assert any(line.startswith(failover) for line in lines)
    assert any(line.startswith("WARNING modelmesh.deactivation provider openai") for line in lines)
    assert not any("modelmesh.attempt" in line or "modelmesh.request" in line for line in lines)
    assert "sk-test-openai-123456" not in root_handler.getvalue()


def test_levels_attempts_debug_requests_info_failovers_warning(  # type: ignore[no-untyped-def]
    fakes, caplog: pytest.LogCaptureFixture
) -> None:
    client = _client()
    fakes[0].fail_next(2, Fault.status(503))  # retried once on gpt-4o, then a failover
    with caplog.at_level(logging.DEBUG, logger="modelmesh"):
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    levels = {(r.name, r.levelname) for r in caplog.records}
    assert ("modelmesh.attempt", "DEBUG") in levels
    assert ("modelmesh.failover", "WARNING") in levels
    assert ("modelmesh.request", "INFO") in levels
    (request,) = [r for r in caplog.records if r.name == "modelmesh.request"]
    assert "answered by groq/llama-3.3-70b-versatile" in request.getMessage()
    assert request.modelmesh_event["failovers"] == 1  # type: ignore[attr-defined]


def test_a_failed_request_is_a_warning(fakes, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    client = create("chat-completion", models=["gpt-4o"], config={"observability": {"connector": "logging"}})
    fakes[0].fail_next(5, Fault.status(400, message="bad input"))
    with caplog.at_level(logging.INFO, logger="modelmesh"), pytest.raises(Exception, match="bad input"):
        client.chat.completions.create(model="chat-completion", messages=HELLO)
    (request,) = [r for r in caplog.records if r.name == "modelmesh.request"]
    assert request.levelno == logging.WARNING and "request failed" in request.getMessage()


def test_a_kept_rotation_is_logged_as_such() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger("modelmesh.rotation")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        LoggingObserver().emit(
            {"event": "rotation", "pool": "p", "from": "a", "to": "a", "rotated": False, "note": "no other"}
        )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert "kept a" in stream.getvalue() and "no other" in stream.getvalue()


def test_nothing_is_formatted_when_the_level_is_off(caplog: pytest.LogCaptureFixture) -> None:
    class Exploding(dict):  # type: ignore[type-arg]
        def get(self, key: object, default: object = None) -> object:
            if key != "event":
                raise AssertionError("formatted although nobody listens")
            return super().get(key, default)

    with caplog.at_level(logging.INFO, logger="modelmesh"):
        LoggingObserver().emit(Exploding(event="attempt"))  # attempts are DEBUG
