"""``images.generate`` through the mesh: URLs and base64, failover."""

from __future__ import annotations

import base64

import openai
import pytest

from modelmesh.testing import Fault
from modelmesh.testing.openai_wire import png_bytes
from tests.endpoints.conftest import resolve


async def test_text_to_image_with_only_an_openai_key(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai")
    client = client_for("text-to-image", fast=False)
    result = await resolve(
        client.images.generate(model="text-to-image", prompt="a lighthouse", size="1024x1024")
    )
    assert isinstance(result, openai.types.ImagesResponse)
    assert result.data[0].url.startswith(fakes["openai"].host_url)
    sent = fakes["openai"].requests[-1]
    assert sent.path == "/v1/images/generations"
    assert sent.json == {"model": "gpt-image-1", "prompt": "a lighthouse", "size": "1024x1024"}


async def test_base64_images_and_several_at_once(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    providers("openai")
    client = client_for(pool="image-generation")
    result = await resolve(
        client.images.generate(model="image-generation", prompt="a fox", n=2, response_format="b64_json")
    )
    assert [base64.b64decode(d.b64_json) for d in result.data] == [png_bytes("a fox:0"), png_bytes("a fox:1")]


async def test_fails_over_to_another_provider(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai", "together")
    fakes["openai"].set_outage(Fault.status(500))
    client = client_for("text-to-image")
    raw = await resolve(client.images.with_raw_response.generate(model="text-to-image", prompt="a cat"))
    assert raw.parse().data[0].url.startswith(fakes["together"].host_url)
    assert raw.headers["x-modelmesh-model"] == "black-forest-labs/FLUX.1-schnell"


async def test_a_content_policy_refusal_is_returned_not_failed_over(providers, client_for) -> None:  # type: ignore[no-untyped-def]
    fakes = providers("openai", "together")
    fakes["openai"].fail_next(1, Fault.content_policy())
    client = client_for("text-to-image")
    with pytest.raises(openai.BadRequestError) as caught:
        await resolve(client.images.generate(model="text-to-image", prompt="something refused"))
    assert caught.value.code == "content_policy_violation"
    assert fakes["together"].calls() == 0
