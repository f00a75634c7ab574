"""Finding 1: a literal key given to the LangChain classes never reaches a repr, ``dumpd`` or a callback.

``dumpd`` falls back to the repr for a class that is not serialisable, and LangChain hands that dict
to every callback handler (and to LangSmith when tracing is on).
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumpd

from langchain_modelmesh import ChatModelMesh, ModelMeshEmbeddings
from modelmesh.testing import FakeProvider

CANARY = "sk-CANARY-langchain-7f3a9c"
HEADER_CANARY = "hdr-CANARY-langchain-51e0"


@pytest.fixture(scope="module")
def keyed_fake() -> Any:
    with FakeProvider(name="openai", models=["gpt-4o", "text-embedding-3-small"], api_key=CANARY) as fake:
        yield fake


def _config(fake: FakeProvider) -> dict[str, Any]:
    return {
        "providers": {
            "openai": {
                "api_key": CANARY,
                "base_url": fake.base_url,
                "headers": {"x-api-key": HEADER_CANARY},
                "models": ["gpt-4o", "text-embedding-3-small"],
            }
        },
        "pools": {
            "chat-completion": {"capability": "chat-completion"},
            "text-embeddings": {"capability": "text-embeddings"},
        },
    }


def _assert_clean(text: str) -> None:
    assert CANARY not in text
    assert HEADER_CANARY not in text


class _Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.payloads: list[Any] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: Any, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self.payloads.append((serialized, kwargs))


def test_chat_model_repr_and_dumpd_hide_a_literal_config_key(keyed_fake: FakeProvider) -> None:
    model = ChatModelMesh(config=_config(keyed_fake), model="chat-completion")
    _assert_clean(repr(model))
    _assert_clean(str(model))
    _assert_clean(str(dumpd(model)))


def test_embeddings_repr_and_dumpd_hide_a_literal_config_key(keyed_fake: FakeProvider) -> None:
    embeddings = ModelMeshEmbeddings(config=_config(keyed_fake), model="text-embeddings")
    _assert_clean(repr(embeddings))
    _assert_clean(str(dumpd(embeddings)))


def test_callback_payloads_carry_no_key(keyed_fake: FakeProvider) -> None:
    recorder = _Recorder()
    model = ChatModelMesh(config=_config(keyed_fake), model="chat-completion", callbacks=[recorder])
    model.invoke("hello")
    model.close()
    assert recorder.payloads
    _assert_clean(repr(recorder.payloads))
