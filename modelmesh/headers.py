"""HTTP headers as the mesh reads them: one plain dict per message, decoded once.

A foundation below the engine and the mesh (what the SDK sent and what a provider answered are read the
same way). Deliberately no header *writing*: requests and answers keep httpx2's own objects.
"""

from __future__ import annotations

import httpx2


def header_dict(headers: httpx2.Headers) -> dict[str, str]:
    """Headers as a plain dict with lower-case names, decoded from their bytes in one pass.

    Keyed lookups on ``httpx2.Headers`` scan the whole list, and its ``items()`` re-detects the
    encoding for every name and value: for the SDK's ~17 headers that was ~8 µs per request.
    A repeated header keeps its last value (the request and answer headers read here are not lists).
    """
    encoding = headers.encoding  # what httpx2 would decode with (ascii, utf-8 or latin-1), found once
    return {k.decode(encoding).lower(): v.decode(encoding) for k, v in headers.raw}
