"""openai-node against the proxy with ``maxRetries: 0`` (issue 11, #2): one client call, one proxy request.

The failover happens inside the proxy; a client that retries on its own multiplies every provider call,
so docs/serve.md tells JS clients to set ``maxRetries: 0``. This runs the real ``openai`` npm package
(installed by ``make test``, never by a test) and counts the proxy's requests on /metrics. Skipped
without ``node``; see the ``openai_node`` fixture in ``tests/conftest.py``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from modelmesh.testing import FakeProvider, Fault
from tests.serve.conftest import KEY, Proxy, ProxyServer
from tests.serve.test_operations import scrape

OPENAI_NODE = "openai@7"
SCRIPT = """
import OpenAI from "openai";
const [baseURL, apiKey, maxRetries, timeout] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey, maxRetries: Number(maxRetries), timeout: Number(timeout) });
try {
  const answer = await client.chat.completions.create({
    model: "chat-completion",
    messages: [{ role: "user", content: "Hello!" }],
  });
  console.log(JSON.stringify({ status: 200, model: answer.model }));
} catch (err) {
  const retryAfter = err.headers?.get?.("retry-after") ?? null;
  console.log(JSON.stringify({ status: err.status ?? null, error: err.constructor.name, retryAfter }));
}
"""


@pytest.fixture(scope="session")
def node_script(openai_node: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("openai-node")
    (root / "node_modules").symlink_to(openai_node)  # ES modules resolve packages beside the script
    script = root / "chat.mjs"
    script.write_text(SCRIPT)
    return script


def run_node(
    script: Path, server: ProxyServer, max_retries: int = 0, timeout_ms: int = 10_000
) -> dict[str, Any]:
    argv = ["node", str(script), server.url, KEY, str(max_retries), str(timeout_ms)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=script.parent)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def proxy_requests(server: ProxyServer) -> float:
    samples = scrape(server, authorization=f"Bearer {KEY}")
    return sum(
        value
        for (name, labels), value in samples.items()
        if name == "modelmesh_proxy_requests_total" and ("route", "/v1/chat/completions") in labels
    )


def test_a_failed_over_request_reaches_the_proxy_once(
    node_script: Path, proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    openai_fake, groq_fake = fakes
    openai_fake.set_outage(Fault.status(503))
    server = proxy(api_keys=(KEY,))
    assert run_node(node_script, server) == {"status": 200, "model": "llama-3.3-70b-versatile"}
    assert proxy_requests(server) == 1
    assert openai_fake.calls() >= 1 and groq_fake.calls() == 1  # the failover ran inside the proxy


def test_a_request_failed_over_every_provider_reaches_the_proxy_once(
    node_script: Path, proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    for fake in fakes:
        fake.set_outage(Fault.status(503))
    server = proxy(api_keys=(KEY,))
    result = run_node(node_script, server)
    assert result["status"] == 503 and result["retryAfter"]
    assert proxy_requests(server) == 1


@pytest.mark.parametrize(("max_retries", "runs"), [(0, 1), (2, 3)])
def test_client_timeouts_start_one_run_only_with_max_retries_0(
    max_retries: int, runs: int, node_script: Path, proxy: Proxy, fakes: tuple[FakeProvider, FakeProvider]
) -> None:
    # openai-node retries its own timeouts whatever the proxy says: each retry is a new routing run.
    openai_fake = fakes[0]
    openai_fake.set_outage(Fault.latency(3))
    server = proxy(api_keys=(KEY,))
    result = run_node(node_script, server, max_retries=max_retries, timeout_ms=300)
    assert result["status"] is None and "Timeout" in result["error"]
    assert openai_fake.calls() == runs
