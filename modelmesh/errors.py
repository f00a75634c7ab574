"""The errors ModelMesh raises itself.

Failures of providers never surface as these: they reach the caller as the real ``openai`` exception
classes (``RateLimitError``, ``APITimeoutError``, ...) because the mesh sits under the OpenAI SDK.
What is left is misuse of the library, caught before any request is sent::

    ModelMeshError
     ├── ConfigError (also a ValueError)        bad config, unknown capability / pool / strategy / provider
     │    └── UnknownNameError                  a name not in a known set; lists the valid and close ones
     └── NoProvidersError (also a RuntimeError) no API key found for any provider
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class ModelMeshError(Exception):
    """Base class of every error raised by ModelMesh itself."""


class ConfigError(ModelMeshError, ValueError):
    """Invalid configuration; ``path`` names the offending field (``pools.chat.retry.max_attempts``)."""

    def __init__(self, message: str, *, path: str | None = None) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


class UnknownNameError(ConfigError):
    """A name that is not one of a known set; the message lists close matches and the valid names."""

    def __init__(self, kind: str, name: str, valid: Iterable[str], *, path: str | None = None) -> None:
        self.kind = kind
        self.name = name
        self.valid = sorted(set(valid))
        close = difflib.get_close_matches(name, self.valid, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(self.valid) if len(self.valid) <= 40 else ", ".join(self.valid[:40]) + ", ..."
        super().__init__(f"unknown {kind} {name!r}.{hint} Valid {_plural(kind)}: {listing}", path=path)


class NoProvidersError(ModelMeshError, RuntimeError):
    """No provider could be detected from the environment or ``api_keys``."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message or "No API keys found. Set at least one provider API key as an environment variable."
        )


def _plural(noun: str) -> str:
    return noun[:-1] + "ies" if noun.endswith("y") and noun[-2:-1] not in "aeiou" else noun + "s"
