"""The status page (issue 11, #5): ``/ui`` and its JSON, and the page rendered in a real headless Chromium.

The Chromium tests need Debian's ``chromium`` (``apt-get install chromium``; CI installs it and fails
without it); elsewhere they are skipped without it.
The screenshot is written to ``$MODELMESH_TEST_ARTIFACTS`` (default: the test's tmp_path).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx2
import openai
import pytest

from modelmesh.testing import FakeProvider, Fault
from tests.serve.conftest import KEY, Proxy, ProxyServer, chat

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# CI installs chromium (.ci/run): there a missing browser is a failure, not a skip.
NEEDS_CHROMIUM = pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI", "").lower() != "true",
    reason="needs Debian's chromium (apt-get install chromium)",
)


def outage(proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider], **settings: object) -> ProxyServer:
    """A proxy whose openai model went on standby after one failover to groq."""
    fakes[0].set_outage(Fault.status(503))
    server = proxy(**settings)
    with server.client(api_key=KEY) as client:
        assert chat(client, stream=False)[0] == "llama-3.3-70b-versatile"
    return server


def test_the_json_shows_states_reasons_countdowns_and_failovers(
    proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    server = outage(proxy, fakes, api_keys=(KEY,))
    assert httpx2.get(f"{server.origin}/ui/status.json").status_code == 401  # the data needs the key
    data = httpx2.get(f"{server.origin}/ui/status.json", headers={"authorization": f"Bearer {KEY}"}).json()
    chat_pool = next(p for p in data["pools"] if p["name"] == "chat-completion")
    assert (chat_pool["active"], chat_pool["total"], chat_pool["current_model"]) == (
        1,
        2,
        "llama-3.3-70b-versatile",
    )
    down = next(m for m in chat_pool["models"] if m["model"] == "openai.gpt-4o")
    assert down["active"] is False and down["reason"] and down["back_in_s"] > 0
    assert down["usage"]["requests"] == 0  # a failed attempt is never counted
    up = next(m for m in chat_pool["models"] if m["model"] == "groq.llama-3.3-70b-versatile")
    assert up["usage"]["requests"] == 1 and up["usage"]["prompt_tokens"] > 0
    assert up["usage"]["completion_tokens"] > 0 and chat_pool["usage"] == up["usage"]
    [failover] = data["recent_failovers"]
    assert failover["pool"] == "chat-completion" and failover["model"] == "llama-3.3-70b-versatile"
    assert failover["failovers"] == "1" and failover["status"] == 200


def test_the_page_is_self_contained_and_loads_without_the_key(proxy: Proxy) -> None:
    page = httpx2.get(f"{proxy(api_keys=(KEY,)).origin}/ui")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)  # no CDN, nothing external
    assert "textContent" in page.text and "/ui/status.json" in page.text


def chromium(*args: str) -> str:
    argv = [CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    argv += ["--disable-dev-shm-usage", "--virtual-time-budget=5000", *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=90, check=True)
    return done.stdout


@NEEDS_CHROMIUM
def test_chromium_shows_the_outage(
    proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider], tmp_path: Path
) -> None:
    server = outage(proxy, fakes)
    dom = chromium("--dump-dom", f"{server.origin}/ui")
    assert "pool chat-completion: 1/2 active, current llama-3.3-70b-versatile" in dom
    row = re.search(r'<tr data-model="openai.gpt-4o">(.*?)</tr>', dom, re.DOTALL)
    assert row is not None, dom
    assert 'class="standby">standby<' in row.group(1) and re.search(r">\d+ s<", row.group(1))
    up = re.search(r'<tr data-model="groq.llama-3.3-70b-versatile">(.*?)</tr>', dom, re.DOTALL)
    assert up is not None and 'class="active">active<' in up.group(1)
    # answers, tokens in / out and cost of the model that answered (one request)
    assert re.search(r'<td class="usage">1</td><td class="usage">[1-9]\d* / [1-9]\d*</td>', up.group(1))
    assert '<td class="usage">$' in up.group(1)
    assert "3 pools, all serving" in dom  # each pool still has an active model
    failovers = re.search(r'<tbody id="failovers">(.*?)</tbody>', dom, re.DOTALL)
    assert (
        failovers is not None
        and "<td>chat-completion</td><td>llama-3.3-70b-versatile</td>" in failovers.group(1)
    )
    artifacts = Path(os.environ.get("MODELMESH_TEST_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "status-page.png"
    chromium(f"--screenshot={shot}", "--window-size=1200,900", f"{server.origin}/ui")
    assert shot.stat().st_size > 10_000


@NEEDS_CHROMIUM
def test_chromium_asks_for_the_key_when_one_is_set(proxy: Proxy) -> None:
    server = proxy(api_keys=(KEY,))
    dom = chromium("--dump-dom", f"{server.origin}/ui")
    assert "this proxy needs its key" in dom and 'id="auth" style="display: block;"' in dom


def test_the_status_page_needs_no_openai_client(client: openai.OpenAI) -> None:
    assert httpx2.get(str(client.base_url).replace("/v1/", "/ui")).status_code == 200
