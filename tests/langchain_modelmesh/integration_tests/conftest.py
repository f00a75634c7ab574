"""Skips, with their reasons, the standard tests that cannot run offline.

langchain-tests refuses subclasses that override its tests (except to mark them xfail), so the skips
are added at collection time instead.
"""

from __future__ import annotations

import pytest

DOWNLOADS = "downloads its input from the internet; these tests run offline against local fakes"
OFFLINE_SKIPS = {
    "test_pdf_inputs": DOWNLOADS,
    "test_audio_inputs": DOWNLOADS,
    "test_image_inputs": DOWNLOADS,
    "test_image_tool_message": DOWNLOADS,
    "test_pdf_tool_message": DOWNLOADS,
    "test_anthropic_inputs": DOWNLOADS,
    "test_stream_time": "replays a recorded VCR cassette of a real provider; none is recorded here",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        cls = getattr(item, "cls", None)
        name = getattr(item, "originalname", item.name)
        if cls is not None and cls.__name__ == "TestChatModelMeshStandard" and name in OFFLINE_SKIPS:
            item.add_marker(pytest.mark.skip(reason=OFFLINE_SKIPS[name]))
