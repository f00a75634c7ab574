"""Proxy authentication: which requests carry one of the operator's proxy keys.

Owns the check only (Bearer header, constant-time comparison against every configured key, keys in
the URL refused). It deliberately does not know the routes: the app decides which paths need a key.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from urllib.parse import parse_qsl

# Keys in URLs end up in access logs, browser history and Referer headers: refused even when right.
_URL_KEY_PARAMS = frozenset({"api_key", "api-key", "apikey", "key", "token", "access_token"})

UNAUTHORIZED = "Missing or invalid proxy API key: send 'Authorization: Bearer <key>'."
KEY_IN_URL = (
    "A key was sent in the URL query string, where logs and proxies record it: send it only as "
    "'Authorization: Bearer <key>' (and rotate that key if it was a real one)."
)


def key_in_query(query_string: bytes) -> bool:
    if not query_string:
        return False
    pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    return any(name.lower() in _URL_KEY_PARAMS for name, _ in pairs)


def is_authorized(authorization: bytes | None, keys: Sequence[bytes]) -> bool:
    """True when ``Authorization: Bearer <token>`` names one of ``keys`` (or no key is configured)."""
    if not keys:
        return True
    scheme, _, token = (authorization or b"").partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    token = token.strip()
    # Every key is compared (no early exit), each in constant time: timing reveals neither which key
    # nor how much of a guess is right.
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(token, key)
    return matched
