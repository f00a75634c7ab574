"""A mesh config whose provider is never contacted: for tests that build models but send nothing."""

from __future__ import annotations

from typing import Any

UNUSED_URL = "http://127.0.0.1:9/v1"  # discard port: nothing in these tests sends a request
CONFIG: dict[str, Any] = {
    "providers": {
        "openai": {
            "api_key": "sk-unit",
            "base_url": UNUSED_URL,
            "models": ["gpt-4o", "gpt-4o-mini", "text-embedding-3-small"],
        }
    },
    "pools": {
        "chat-completion": {"capability": "chat-completion"},
        "text-embeddings": {"capability": "text-embeddings"},
    },
}
