"""Every Python block in the README and ``docs/`` runs, page by page, against local fake providers.

A doc that lies is a failing test. The blocks of one page share a namespace (later blocks use names from
earlier ones) that starts with ``import modelmesh`` and ``from modelmesh import create``, as the pages
assume. Conventions for writers:

- ``messages=[...]`` is the docs' shorthand for a message list: it runs as one user message;
- the working directory holds ``modelmesh.yaml`` / ``mesh.yaml`` (a one-pool config), ``meeting.wav`` and
  ``call.mp3``; ``OPENAI_KEY``, ``ANTHROPIC_KEY``, ``GROQ_KEY`` and ``GW_KEY`` answer ``${secrets:...}``;
- a block that cannot run here (it needs a running proxy, a real gateway, ...) is preceded by
  ``<!-- docs-test: skip: <reason> -->``; the reason is required.

Any attempt to resolve a host other than 127.0.0.1 / localhost fails the block: docs never reach the
internet from the tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import io
import logging
import re
import signal
import socket
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from modelmesh.testing import FakeProvider

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_SKIP = re.compile(r"<!--\s*docs-test:\s*skip(?::\s*(?P<reason>.*?))?\s*-->")
_MESSAGES = "[{'role': 'user', 'content': 'Hi'}]"
BLOCK_TIMEOUT_S = 30


@contextlib.contextmanager
def _deadline(seconds: int, where: str) -> Iterator[None]:
    """A block that blocks (a server, a prompt) fails instead of hanging the run."""

    def expire(*_: Any) -> None:
        raise TimeoutError(f"{where} still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, skip reason or None)`` for each Python block of ``page`` (line: 1-based, the fence)."""
    lines = page.read_text(encoding="utf-8").splitlines(keepends=True)
    found: list[tuple[int, str, str | None]] = []
    index = 0
    while index < len(lines):
        if lines[index].rstrip() != "```python":
            index += 1
            continue
        previous = lines[index - 1] if index else ""
        skip = _SKIP.search(previous)
        end = next(i for i in range(index + 1, len(lines)) if lines[i].rstrip() == "```")
        reason = None if skip is None else (skip.group("reason") or "")
        found.append((index + 1, "".join(lines[index + 1 : end]), reason))
        index = end + 1
    return found


@pytest.fixture
def docs_world(
    openai_fake: FakeProvider,
    groq_fake: FakeProvider,
    anthropic_fake: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> Iterator[None]:
    """Fakes behind the usual variables (and the secret names the docs use), sample files, no internet."""
    for fake, prefix in ((openai_fake, "OPENAI"), (groq_fake, "GROQ"), (anthropic_fake, "ANTHROPIC")):
        fake.reset()
        for key, value in fake.env(prefix).items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv(f"{prefix}_KEY", fake.api_key)  # ${secrets:openai-key} falls back to OPENAI_KEY
    config = {"pools": {"chat-completion": {"capability": "chat-completion"}}}
    for name in ("modelmesh.yaml", "mesh.yaml"):
        (tmp_path / name).write_text(yaml.safe_dump(config))
    for name in ("meeting.wav", "call.mp3"):
        (tmp_path / name).write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    monkeypatch.setenv("GW_KEY", "sk-gateway")  # ${secrets:gw-key} in the provider examples
    monkeypatch.chdir(tmp_path)
    real = socket.getaddrinfo

    def loopback_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1", None):
            raise OSError(f"a docs example tried to reach {host!r}: mark it docs-test: skip with a reason")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level  # a page may call logging.basicConfig()
    yield
    for handler in set(root.handlers) - set(handlers):
        root.removeHandler(handler)
    root.setLevel(level)
    for fake in (openai_fake, groq_fake, anthropic_fake):
        fake.reset()


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_the_python_blocks_of_a_page_run(page: Path, docs_world: None) -> None:
    namespace: dict[str, Any] = {}
    exec("import modelmesh\nfrom modelmesh import create", namespace)
    for line, code, skip in blocks(page):
        if skip is not None:
            assert skip, f"{page.name}:{line}: a docs-test skip needs a reason"
            continue
        source = code.replace("[...]", _MESSAGES)
        try:
            with contextlib.redirect_stdout(io.StringIO()), _deadline(BLOCK_TIMEOUT_S, f"{page.name}:{line}"):
                exec(compile(source, f"{page.name}:{line}", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"{page.relative_to(ROOT)} block at line {line}: {type(exc).__name__}: {exc}")
    _close_all(namespace)


def _close_all(namespace: dict[str, Any]) -> None:
    """Close the clients a page left in its namespace; those it dropped are collected quietly (a page
    may rebind ``client`` as users do, which is not what this test checks)."""
    for value in namespace.values():
        close = getattr(value, "close", None)
        if callable(close) and type(value).__module__.startswith(("modelmesh", "langchain_modelmesh")):
            with contextlib.suppress(Exception):
                result = close()
                if inspect.isawaitable(result):  # an AsyncMeshClient
                    asyncio.run(result)  # type: ignore[arg-type]
    namespace.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_the_block_finder_sees_skips_and_code(tmp_path: Path) -> None:
    page = "intro\n<!-- docs-test: skip: needs a proxy -->\n```python\nx = 1\n```\n\n```python\ny = 2\n```\n"
    path = tmp_path / "page.md"
    path.write_text(page)
    assert [(line, code, skip) for line, code, skip in blocks(path)] == [
        (3, "x = 1\n", "needs a proxy"),
        (7, "y = 2\n", None),
    ]
