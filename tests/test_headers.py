"""Headers read in one pass must say what httpx2's own (slower) accessors say."""

from __future__ import annotations

import httpx2

from modelmesh.headers import header_dict


def test_header_dict_decodes_as_httpx2_does() -> None:
    headers = httpx2.Headers([(b"X-Session", "café".encode()), (b"Accept", b"application/json")])
    assert header_dict(headers) == dict(headers.items())


def test_a_repeated_header_keeps_its_last_value_under_a_lower_case_name() -> None:
    headers = httpx2.Headers([(b"X-Trace", b"one"), (b"x-trace", b"two")])
    assert header_dict(headers) == {"x-trace": "two"}
