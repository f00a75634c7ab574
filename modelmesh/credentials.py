"""What counts as a credential, and the rules a credential value follows.

A foundation below ``config`` (its secret stores substitute ``${secrets:}`` references into
``ResolvedText``), ``types`` (endpoints clean their keys) and ``redaction`` (which collects the values to
hide). Owns: which header or option names hold credentials, the one-line-of-ASCII rule for keys and header
values, and the text that remembers the secret values substituted into it. No I/O, no values in errors.
"""

from __future__ import annotations

import re
from typing import Any

from modelmesh.errors import ConfigError

_CREDENTIAL_NAME = re.compile(r"authorization|api[-_]?key|token|secret|key|password|cookie", re.I)


def is_credential_header(name: str) -> bool:
    """Whether a header (or option) name holds a credential: authorization, api-key, *token*, *secret*..."""
    return _CREDENTIAL_NAME.search(name) is not None


class ResolvedText(str):
    """A string with ``${secrets:}`` references substituted; remembers the values it received.

    The values travel with the text (into headers, base URLs) so that whoever builds a redactor from
    those fields finds every resolved secret, not only the ones in fields named like keys. A pickle
    holds a plain ``str``.
    """

    secrets: tuple[str, ...]

    def __new__(cls, text: str, secrets: tuple[str, ...]) -> ResolvedText:
        instance = super().__new__(cls, text)
        instance.secrets = secrets
        return instance

    def __reduce__(self) -> tuple[type[str], tuple[str]]:
        return str, (str(self),)

    # Immutable, like str: a copy (a deep-copied config) is the same text with the same secrets.
    def __copy__(self) -> ResolvedText:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> ResolvedText:
        return self


def secrets_in(text: str) -> tuple[str, ...]:
    """The resolved secret values ``text`` received, if it came out of :func:`substitute`."""
    return text.secrets if isinstance(text, ResolvedText) else ()


# What other tools write for "this environment variable": ${NAME}, $NAME, LiteLLM's os.environ/NAME.
_PLACEHOLDER = re.compile(r"^(?:\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)|os\.environ/([A-Za-z_]\w*))$")


def clean_credential(value: str, path: str, *, literal: bool = True) -> str:
    """``value`` (an API key or header value) without surrounding whitespace, or a ``ConfigError``.

    Control and non-ASCII characters are rejected, since they cannot travel in an HTTP header and the
    HTTP library's error would quote the value; a ``literal`` that looks like another tool's
    environment-variable reference is rejected with the ``${secrets:NAME}`` spelling. The message names
    the field and the character's position, never the value.
    """
    stripped = value.strip()
    for position, char in enumerate(stripped):
        code = ord(char)
        if code < 0x20 or code == 0x7F:
            problem = f"contains a control character (U+{code:04X}) at position {position}"
            raise ConfigError(f"{problem}; keys and header values are one line of ASCII text", path=path)
        if code > 0x7E:
            problem = f"contains a non-ASCII character (U+{code:04X}) at position {position}"
            raise ConfigError(f"{problem}; was it copied with a smart quote or a hidden space?", path=path)
    placeholder = _PLACEHOLDER.match(stripped) if literal else None
    if placeholder:
        name = next(group for group in placeholder.groups() if group)
        raise ConfigError(
            f"{stripped!r} is not expanded by ModelMesh; to read the environment variable {name}, "
            f"write ${{secrets:{name}}}",
            path=path,
        )
    if stripped == value:
        return value
    return ResolvedText(stripped, secrets_in(value)) if secrets_in(value) else stripped
