"""Secret stores and the ``${secrets:NAME}`` reference syntax.

Owns where a secret's value comes from (environment, a ``.env`` file, inline values) behind the
one-method ``SecretStore`` protocol, substitution of references inside strings (the result, a
``ResolvedText``, remembers the values it received, for redaction), and the rules a credential value
must follow (``clean_credential``: one line of ASCII, no surrounding whitespace). It does not decide
which config fields may hold references: ``modelmesh.config`` calls ``resolve_references`` with what to
skip. Values never appear in a repr or an error message here; only names and positions do.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, PrivateAttr, SecretStr, SerializerFunctionWrapHandler, model_serializer

from modelmesh.credentials import ResolvedText, clean_credential, is_credential_header, secrets_in
from modelmesh.errors import ConfigError

__all__ = ["ResolvedText", "clean_credential", "is_credential_header", "secrets_in"]  # and the stores

SECRET_REFERENCE = re.compile(r"\$\{secrets:\s*([^}]*?)\s*\}")


@runtime_checkable
class SecretStore(Protocol):
    """Anything that can look a secret up by name; ``None`` means "not here"."""

    def get(self, name: str) -> str | None: ...


def env_name(name: str) -> str:
    """The environment-variable spelling of a secret name: ``openai-key`` -> ``OPENAI_KEY``."""
    return name.upper().replace("-", "_").replace(".", "_")


def _candidates(name: str) -> tuple[str, ...]:
    alternate = env_name(name)
    return (name,) if alternate == name else (name, alternate)


class EnvSecretStore:
    """``modelmesh.env.v1``: secrets from environment variables (``NAME``, then ``NAME`` upper-cased)."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        # None means the live os.environ, read at lookup time so monkeypatched variables are seen.
        self._environ = environ

    def get(self, name: str) -> str | None:
        environ = os.environ if self._environ is None else self._environ
        for candidate in _candidates(name):
            value = environ.get(candidate)
            if value is not None:
                return value
        return None

    def __repr__(self) -> str:
        return "EnvSecretStore()"


class DotenvSecretStore:
    """``modelmesh.dotenv.v1``: secrets from a ``.env`` file, falling back to the environment.

    The file is parsed here (no python-dotenv): ``KEY=VALUE`` lines, ``export `` prefixes, ``#``
    comments, single quotes (literal) and double quotes (``\\n``-style escapes, may span lines).
    A missing file is an error only when the path was given explicitly.
    """

    def __init__(
        self, path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
    ) -> None:
        self.path = Path(path) if path is not None else Path(".env")
        self._values: dict[str, SecretStr] = {}
        if self.path.is_file():
            try:
                text = self.path.read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"cannot read secrets file {str(self.path)!r}: {exc.strerror}") from None
            self._values = {key: SecretStr(value) for key, value in parse_dotenv(text).items()}
        elif path is not None:
            raise ConfigError(f"secrets file {str(self.path)!r} not found")
        self._fallback = EnvSecretStore(environ)

    def get(self, name: str) -> str | None:
        for candidate in _candidates(name):
            if candidate in self._values:
                return self._values[candidate].get_secret_value()
        return self._fallback.get(name)

    def __repr__(self) -> str:
        return f"DotenvSecretStore(path={str(self.path)!r}, {len(self._values)} keys)"


class MappingSecretStore:
    """Secrets given inline (``secrets.values`` in a config, handy in tests)."""

    def __init__(self, values: Mapping[str, str | SecretStr]) -> None:
        self._values = {
            key: value if isinstance(value, SecretStr) else SecretStr(value) for key, value in values.items()
        }

    def get(self, name: str) -> str | None:
        value = self._values.get(name)
        return None if value is None else value.get_secret_value()

    def __repr__(self) -> str:
        return f"MappingSecretStore({len(self._values)} keys)"


class ChainSecretStore:
    """The first store that knows a name wins."""

    def __init__(self, *stores: SecretStore) -> None:
        self.stores = stores

    def get(self, name: str) -> str | None:
        for store in self.stores:
            value = store.get(name)
            if value is not None:
                return value
        return None

    def __repr__(self) -> str:
        return f"ChainSecretStore({', '.join(repr(store) for store in self.stores)})"


def references(text: str) -> list[str]:
    """The secret names referenced in ``text``."""
    return SECRET_REFERENCE.findall(text)


def substitute(text: str, store: SecretStore) -> str:
    """``text`` with every ``${secrets:NAME}`` replaced; raises ``KeyError(name)`` for an unknown name.

    Text with references comes back as a :class:`ResolvedText`; text without is returned as is.
    """
    values: list[str] = []

    def replace(match: re.Match[str]) -> str:
        value = store.get(match.group(1))
        if value is None:
            raise KeyError(match.group(1))
        values.append(value)
        return value

    result = SECRET_REFERENCE.sub(replace, text)
    return ResolvedText(result, (*secrets_in(text), *values)) if values else text


def resolve_references(
    value: Any,
    store: SecretStore,
    missing: list[tuple[str, str]],
    *,
    path: str = "",
    skip: Callable[[BaseModel, str], bool] = lambda model, field: False,
    _done: dict[int, Any] | None = None,
) -> Any:
    """``value`` with references substituted in every string of a nested structure.

    Walks str, ``SecretStr``, dicts, lists and pydantic models (``skip(model, field)`` leaves a field
    alone); anything else is kept by identity, and so is any container with nothing to substitute.
    Unknown names are appended to ``missing`` as ``(dotted path, name)``. A model copy records the
    replaced fields' previous values when it is a ``SecretSafeModel``. A container reached twice (YAML
    aliases share nodes) is walked once: its result is reused, so sharing cannot make the walk explode.
    """
    done: dict[int, Any] = {} if _done is None else _done
    if isinstance(value, dict | list) and id(value) in done:
        return done[id(value)]

    def walk(item: Any, where: str) -> Any:
        return resolve_references(item, store, missing, path=where, skip=skip, _done=done)

    if isinstance(value, str):
        try:
            return substitute(value, store)
        except KeyError as exc:
            missing.append((path, str(exc.args[0])))
            return value
    if isinstance(value, SecretStr):
        raw = value.get_secret_value()
        new = walk(raw, path)
        return value if new == raw else SecretStr(new)
    if isinstance(value, dict):
        items = {key: walk(item, f"{path}.{key}".lstrip(".")) for key, item in value.items()}
        done[id(value)] = value if all(items[key] is value[key] for key in value) else items
        return done[id(value)]
    if isinstance(value, list):
        elements = [walk(item, f"{path}[{index}]") for index, item in enumerate(value)]
        done[id(value)] = value if all(a is b for a, b in zip(elements, value, strict=True)) else elements
        return done[id(value)]
    if isinstance(value, BaseModel):
        updates = {}
        for field in type(value).model_fields:
            old = getattr(value, field)
            new = old if skip(value, field) else walk(old, f"{path}.{field}".lstrip("."))
            if new is not old:
                updates[field] = new
        if not updates:
            return value
        copy = value.model_copy(update=updates)
        if isinstance(value, SecretSafeModel) and isinstance(copy, SecretSafeModel):
            copy._originals = {**{field: getattr(value, field) for field in updates}, **value._originals}
        return copy
    return value


class SecretSafeModel(BaseModel):
    """A pydantic base whose dumps and pickles never carry a resolved secret.

    ``resolve_references`` records, in ``_originals``, each field it changed. A pickle restores those
    fields to their ``${secrets:}`` templates and drops literal ``SecretStr`` values; ``model_dump``
    shows templates for plain-text fields (headers, options, URLs), since SecretStr masks itself.
    """

    _originals: dict[str, Any] = PrivateAttr(default_factory=dict)

    def _templates(self) -> dict[str, Any]:
        templates = {}
        for name, original in self._originals.items():
            value = getattr(self, name)
            nested = value.values() if isinstance(value, dict) else [value]
            # Sections holding models are left to those models' own templates.
            if not isinstance(value, SecretStr) and not any(isinstance(v, BaseModel) for v in nested):
                templates[name] = original
        return templates

    @model_serializer(mode="wrap")
    def _dump_templates(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if isinstance(data, dict):
            data.update({k: v for k, v in self._templates().items() if k in data})
        return data

    def __getstate__(self) -> dict[Any, Any]:
        state = super().__getstate__()
        fields = dict(state["__dict__"])
        for name, value in fields.items():
            value = fields[name] = self._originals.get(name, value)
            if isinstance(value, SecretStr) and not references(value.get_secret_value()):
                fields[name] = None  # a literal secret: dropped, only a ${secrets:} template survives
            elif isinstance(value, dict) and any(isinstance(v, SecretStr) for v in value.values()):
                fields[name] = {}
            elif isinstance(value, dict):
                fields[name] = _without_literal_credentials(value)
        state["__dict__"] = fields
        state["__pydantic_private__"] = {**(state.get("__pydantic_private__") or {}), "_originals": {}}
        return state


def _without_literal_credentials(values: dict[Any, Any]) -> dict[Any, Any]:
    """``values`` less the literal strings under credential-like names (headers: ``api-key``, ...)."""
    return {
        key: value
        for key, value in values.items()
        if not (isinstance(key, str) and isinstance(value, str) and is_credential_header(key))
        or references(value)
    }


# -- .env parsing ----------------------------------------------------------------------------------

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse ``.env`` text; lines that are not ``KEY=VALUE`` are skipped, as python-dotenv does."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, rest = line.partition("=")
        key = key.strip()
        if not sep or not _KEY.match(key):
            continue
        rest = rest.lstrip()
        if rest[:1] in ("'", '"'):
            quote = rest[0]
            body = rest[1:]
            # A quoted value may span lines (PEM keys); keep reading until its closing quote.
            while _closing_quote(body, quote) < 0 and index < len(lines):
                body += "\n" + lines[index]
                index += 1
            end = _closing_quote(body, quote)
            body = body if end < 0 else body[:end]
            values[key] = _unescape(body) if quote == '"' else body
        else:
            values[key] = re.split(r"\s+#", rest, maxsplit=1)[0].strip()
    return values


def _closing_quote(body: str, quote: str) -> int:
    escaped = False
    for position, char in enumerate(body):
        if escaped:
            escaped = False
        elif char == "\\" and quote == '"':
            escaped = True
        elif char == quote:
            return position
    return -1


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(0)), body)
