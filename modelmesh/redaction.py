"""The ``Redactor``: removes a mesh's secrets from text before it leaves (errors, events, replies).

Owns two rules: which values are secrets (each provider's API key, the value of every credential-like
header, and every value substituted for a ``${secrets:}`` reference; base URLs cannot hold passwords,
``ProviderEndpoint`` rejects them) and which encodings of a secret count as the secret (raw, Python-repr
escaped for str and bytes, JSON escaped with and without ``ensure_ascii``, JSON of the repr,
percent-encoded). The encoded forms are computed once;
``redact`` is one substring search per form, so it is linear in the text and cheap when nothing matches.

Deliberately not here: deciding where redaction is applied (the mesh and the routing run call it on
every error text they emit) and validating keys (``modelmesh.config`` and ``modelmesh.types``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import quote

from modelmesh.credentials import is_credential_header, secrets_in

if TYPE_CHECKING:
    from modelmesh.types import ProviderEndpoint

REDACTED = "[redacted]"
MIN_SECRET_CHARS = 4  # shorter values ("1", "ab") would mangle every message and are not keys


def encodings(secret: str) -> set[str]:
    """The forms ``secret`` takes in reprs, JSON and URLs, as well as itself."""
    first = {
        secret,
        repr(secret)[1:-1],
        repr(secret.encode())[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        quote(secret, safe=""),
    }
    # An exception's repr-escaped text, written as JSON (a JSONL event, a 502 body): escaped twice.
    second = {json.dumps(form)[1:-1] for form in first} | {repr(form)[1:-1] for form in first}
    return first | second


class Redactor:
    """Replaces every encoded form of the given secrets with ``[redacted]``; falsy when it has none."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            secret = secret.strip()
            if len(secret) >= MIN_SECRET_CHARS:
                forms |= encodings(secret)
        # Longest first: a secret containing another is replaced whole, not around its inner part.
        self._forms = sorted(forms, key=len, reverse=True)
        self._byte_forms = [form.encode() for form in self._forms]
        self._replacement = REDACTED.encode()

    @classmethod
    def for_endpoints(cls, endpoints: Iterable[ProviderEndpoint]) -> Redactor:
        """A redactor for every secret the given provider endpoints hold."""
        secrets: list[str] = []
        for endpoint in endpoints:
            if endpoint.api_key is not None:
                secrets.append(endpoint.api_key.get_secret_value())
            secrets += secrets_in(endpoint.base_url)
            for name, value in endpoint.headers.items():
                secrets += secrets_in(value)
                if is_credential_header(name):
                    secrets += [value, value.partition(" ")[2]]  # "Bearer <token>": the token alone too
        return cls(secrets)

    def __bool__(self) -> bool:
        return bool(self._forms)

    def redact(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, REDACTED)
        return text

    def redact_bytes(self, data: bytes) -> bytes:
        for form in self._byte_forms:
            if form in data:
                data = data.replace(form, self._replacement)
        return data

    def __repr__(self) -> str:
        return f"Redactor({len(self._forms)} forms)"
