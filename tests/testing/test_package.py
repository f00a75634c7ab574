"""The package surface: public names, and no heavy imports until a server starts."""

from __future__ import annotations

import subprocess
import sys

import modelmesh.testing

CHECK = """
import sys
import modelmesh.testing
import modelmesh.testing.pytest_plugin
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("starlette", "uvicorn"))
assert not heavy, heavy
provider = modelmesh.testing.FakeProvider(name="lazy").start()
provider.stop()
assert "uvicorn" in sys.modules and "starlette" in sys.modules
"""


def test_public_names() -> None:
    for name in ("FakeProvider", "Fault", "Reply", "ToolCall", "RecordedRequest", "fake_providers"):
        assert name in modelmesh.testing.__all__
        assert hasattr(modelmesh.testing, name)


def test_import_does_not_load_starlette_or_uvicorn() -> None:
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", CHECK], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
