"""What a fake provider remembers about the requests it received."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake server received it.

    ``headers`` has lower-case names; ``json`` is the parsed JSON body (None for GET and multipart
    requests); ``form`` holds the fields of a multipart request, files given by their file name.
    """

    method: str
    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None
    model: str | None
    form: dict[str, str] | None = None

    @property
    def is_stream(self) -> bool:
        """True when the request asked for a streamed answer."""
        return bool(self.json and self.json.get("stream"))
