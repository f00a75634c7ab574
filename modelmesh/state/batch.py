"""Writes handed to a store in one batch, and the records a store reports as changed.

Owns ``Op`` (one queued write: run ``fn`` on a record, or bind a session), ``Change`` (a record as
stored: kind, name, encoded text) and ``apply_ops``, which gives a batch to a store's own
``apply_batch`` (one transaction) or, for a store without it, applies the ops one by one. It decides
nothing about when to write; that is ``replica``'s business.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from modelmesh.state.base import SessionBinding, StateStore, update_record
from modelmesh.state.codec import encode, encode_binding


class Change(NamedTuple):
    """A record as the store holds it: ``kind`` is model, provider, pool or session."""

    kind: str
    name: str  # a session's name is ``pool:hashed id``
    text: str


@dataclass(frozen=True, slots=True)
class Op:
    """One write: ``fn`` run on the record (model, provider, pool), or ``binding`` for a session.

    ``merge`` marks bookkeeping written behind: ``replica`` turns it into a merge before a store sees it."""

    kind: str
    name: str
    fn: Callable[[Any], Any] | None = None
    binding: SessionBinding | None = None
    now: float = 0.0
    merge: bool = False


def session_name(pool: str, session: str) -> str:
    return f"{pool}:{session}"


def split_session(name: str) -> tuple[str, str]:
    pool, _, session = name.rpartition(":")  # hashed ids hold no colon; pool names may
    return pool, session


def apply_ops(store: StateStore, ops: Sequence[Op]) -> list[Change]:
    """Apply ``ops`` in order; the records they touched, as stored afterwards."""
    batch = getattr(store, "apply_batch", None)
    if batch is not None:
        return list(batch(ops))
    changes: list[Change] = []
    for op in ops:
        if op.kind == "session":
            assert op.binding is not None
            store.write_session(*split_session(op.name), op.binding, op.now)
            changes.append(Change(op.kind, op.name, encode_binding(op.binding)))
        else:
            text = _update(store, op)
            changes.append(Change(op.kind, op.name, text))
    return changes


def _update(store: StateStore, op: Op) -> str:
    assert op.fn is not None
    fn = op.fn

    def run(state: Any) -> str:
        fn(state)
        return encode(state)

    return update_record(store, op.kind, op.name, run)
