"""QuickProvider: the seed's two base-URL forms, other paths kept, discovery errors under the user's name."""

from __future__ import annotations

import socket

import pytest

from modelmesh import ConfigError, create
from modelmesh.cdk import QuickProvider
from modelmesh.testing import FakeProvider

HELLO = [{"role": "user", "content": "Hello!"}]


@pytest.mark.parametrize(
    ("given", "root"),
    [
        ("https://api.example.com", "https://api.example.com/v1"),
        ("https://api.example.com/", "https://api.example.com/v1"),
        ("https://gw.internal/v1", "https://gw.internal/v1"),
        ("https://gw.internal/v1/", "https://gw.internal/v1"),
        (
            "https://generativelanguage.googleapis.com/v1beta/openai",
            "https://generativelanguage.googleapis.com/v1beta/openai",
        ),
        ("https://api.groq.com/openai/v1", "https://api.groq.com/openai/v1"),
        ("http://127.0.0.1:8080/api", "http://127.0.0.1:8080/api"),
    ],
)
def test_base_url_forms(given: str, root: str) -> None:
    assert QuickProvider(base_url=given, models=["m"]).base_url == root


def test_an_api_root_with_a_trailing_slash_is_not_doubled() -> None:
    with FakeProvider(name="gw", models=["gw-small"], api_key="sk-internal-key") as fake:
        custom = QuickProvider(base_url=f"{fake.host_url}/v1/", api_key="sk-internal-key")
        assert custom.models == ["gw-small"] and fake.requests[0].path == "/v1/models"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(provider: QuickProvider) -> dict[str, object]:
    return {
        "providers": {"internal-gateway": {"instance": provider}},
        "pools": {"chat-completion": {"capability": "chat-completion", "providers": ["internal-gateway"]}},
    }


def test_discovery_failure_names_the_provider_by_the_users_name() -> None:
    custom = QuickProvider(base_url=f"http://127.0.0.1:{_closed_port()}", api_key="sk-internal-key")
    with pytest.raises(ConfigError, match=r"^providers\.internal-gateway: model discovery failed") as info:
        create(config=_config(custom))
    assert "quick" not in str(info.value) and "sk-internal-key" not in str(info.value)


def test_discovery_refused_by_the_server_names_the_provider_and_status() -> None:
    with FakeProvider(name="gw", models=["gw-small"], api_key="sk-right-key") as fake:
        custom = QuickProvider(base_url=fake.host_url, api_key="sk-wrong-key")
        with pytest.raises(ConfigError, match=r"providers\.internal-gateway: .*HTTP 401"):
            create(config=_config(custom))


def test_reading_models_before_create_names_the_base_url_on_failure() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    custom = QuickProvider(base_url=url)
    assert url in repr(custom)  # repr does not trigger discovery
    with pytest.raises(ConfigError, match=r"QuickProvider\(base_url='http://127\.0\.0\.1:\d+/v1'\)"):
        _ = custom.models


def test_models_given_are_not_discovered() -> None:
    with FakeProvider(name="gw", models=["gw-small", "gw-large"], api_key="k") as fake:
        custom = QuickProvider(base_url=fake.host_url, api_key="k", models=["gw-large"])
        client = create(config=_config(custom))
        assert client.chat.completions.create(model="chat-completion", messages=HELLO).model == "gw-large"
        assert all(r.path != "/v1/models" for r in fake.requests)
