"""JSON (de)serialisation of the state records, shared by the persistent stores.

Owns the wire form of ``ModelState``, ``ProviderState`` and ``PoolState``: one JSON object per record,
field names as keys, ``Infinity`` for a manual standby; a session binding as ``[model key, expires]``.
Unknown keys are dropped on decode so that a newer writer does not break an older reader. It does not
know where the text is kept; that is the stores' business.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any, Final, TypeVar

from modelmesh.state.base import ModelState, PoolState, ProviderState, SessionBinding

Record = ModelState | ProviderState | PoolState
R = TypeVar("R", ModelState, ProviderState, PoolState)

KINDS: Final[dict[str, type[Record]]] = {"model": ModelState, "provider": ProviderState, "pool": PoolState}
_FIELDS: Final[dict[type[Record], frozenset[str]]] = {
    cls: frozenset(f.name for f in dataclasses.fields(cls)) for cls in KINDS.values()
}


def encode(record: Record) -> str:
    """The record as compact JSON (``allow_nan``: a manual standby is ``standby_until = inf``)."""
    return json.dumps(dataclasses.asdict(record), separators=(",", ":"))


def decode(cls: type[R], text: str | bytes | None) -> R:
    """The record stored as ``text``; a fresh default record when nothing is stored."""
    if text is None:
        return cls()
    data: dict[str, Any] = json.loads(text)
    known = _FIELDS[cls]
    values = {name: value for name, value in data.items() if name in known}
    return cls(**values)


def encode_binding(binding: SessionBinding) -> str:
    return json.dumps([binding.model, binding.expires])


def decode_binding(text: str | bytes | None) -> SessionBinding | None:
    if text is None:
        return None
    model, expires = json.loads(text)
    return SessionBinding(str(model), float(expires))


def copy_into(target: R, source: R) -> None:
    """Overwrite ``target``'s fields with deep copies of ``source``'s, so the two share no list or dict."""
    for name in _FIELDS[type(source)]:
        value = getattr(source, name)
        if isinstance(value, list | dict):
            value = copy.deepcopy(value)  # quota counters nest lists in a dict
        setattr(target, name, value)
