"""``ReplicaStore``: routing reads an in-process replica and writes behind, so it never waits on the store.

Owns the replica of the records (a ``MemoryStateStore``), the queue of writes not yet in the shared
store, the rule that says which writes may wait, and the sync thread that, every ``sync_interval_s``,
writes the queue in one batch and pulls what other processes wrote (``changes``). Any store offering
``changes(since)`` can sit under it (SQLite does; ``apply_batch`` is optional).

Which writes wait: bookkeeping nobody else routes on (success counts, outcome and latency windows,
rate-limit headroom, a success ending a failure run, round-robin cursors) is queued and merged into
the stored record later; the merge changes only those fields, so it never lifts a standby another
process set. Everything availability reads (standby, back-off, probe lease, failure counts, quotas,
provider records, the stuck model, sessions) is a routing change: queued and the sync thread woken at
once; a caller that may block (no event loop running in its thread) writes it through itself before
returning, an event-loop caller never waits. Another process sees a routing change on its next pull,
at most ``sync_interval_s`` after it was written (the staleness bound, ADR 0006).

Deliberately not here: store faults (``GuardedStore`` under it degrades to local state and recovers;
while it is degraded the replica keeps its own view) and how a store stores a batch.
"""

from __future__ import annotations

import asyncio
import atexit
import copy
import logging
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

from modelmesh.state.base import (
    ModelState,
    PoolState,
    ProviderState,
    SessionBinding,
    Snapshot,
    StateStore,
    read_record,
    update_record,
)
from modelmesh.state.batch import Change, Op, apply_ops, session_name, split_session
from modelmesh.state.codec import KINDS, copy_into, decode, decode_binding, encode
from modelmesh.state.memory import MemoryStateStore

T = TypeVar("T")

logger = logging.getLogger("modelmesh.state")

SYNC_INTERVAL_S: Final = 0.02
# Fields a write may leave for later: no process's routing decision reads them from another's record.
_BOOKKEEPING: Final[dict[str, tuple[str, ...]]] = {
    "model": (
        "requests",
        "consecutive_failures",
        "recent",
        "latencies",
        "ratelimit_remaining_requests",
        "ratelimit_limit_requests",
        "ratelimit_remaining_tokens",
        "ratelimit_limit_tokens",
    ),
    "pool": ("cursor",),
}

_ROUTING_FIELDS: Final[dict[type, tuple[str, ...]]] = {
    cls: tuple(name for name in cls.__slots__ if name not in _BOOKKEEPING.get(kind, ()))
    for kind, cls in KINDS.items()
}


class ReplicaStore:
    """Reads from the replica; writes applied to it at once and queued for ``inner`` (see the module)."""

    blocks_io = False  # the engine may call it on the event loop: nothing here waits there

    def __init__(self, inner: StateStore, *, sync_interval_s: float = SYNC_INTERVAL_S) -> None:
        if not hasattr(inner, "changes"):
            raise TypeError(f"{inner!r} cannot list its changes, so it cannot be replicated")
        self.sync_interval_s = sync_interval_s
        self._inner = inner
        self._local = MemoryStateStore()
        self._lock = threading.RLock()  # the replica and the queue change together
        self._flush_lock = threading.Lock()  # one batch at a time, in queue order
        self._pending: list[Op] = []
        self._stale: set[tuple[str, str]] = set()
        self._token: int | None = None
        self._closed = False
        self._wake = threading.Event()
        self.sync()  # the whole shared state, before the first request
        self._thread = threading.Thread(
            target=_sync_loop, args=(weakref.ref(self), self._wake), name="modelmesh-state-sync", daemon=True
        )
        self._thread.start()
        atexit.register(_flush_at_exit, weakref.ref(self))  # clients are rarely closed: keep the tail

    @property
    def inner(self) -> StateStore:
        return self._inner

    @property
    def degraded(self) -> bool:
        return bool(getattr(self._inner, "degraded", False))

    # -- reads: the replica ----------------------------------------------------------------------------

    def read_models(self, keys: Sequence[str]) -> dict[str, ModelState]:
        return self._local.read_models(keys)

    def read_provider(self, name: str) -> ProviderState:
        return self._local.read_provider(name)

    def read_pool(self, name: str) -> PoolState:
        return self._local.read_pool(name)

    def read_session(self, pool: str, session: str, now: float) -> SessionBinding | None:
        return self._local.read_session(pool, session, now)

    def snapshot(self, models: Sequence[str], providers: Sequence[str], pools: Sequence[str]) -> Snapshot:
        return self._local.snapshot(models, providers, pools)

    # -- writes: the replica now, the store behind -----------------------------------------------------

    def update_model(self, key: str, fn: Callable[[ModelState], T]) -> T:
        return self._update("model", key, fn)

    def update_provider(self, name: str, fn: Callable[[ProviderState], T]) -> T:
        return self._update("provider", name, fn)

    def update_pool(self, name: str, fn: Callable[[PoolState], T]) -> T:
        return self._update("pool", name, fn)

    def write_session(self, pool: str, session: str, binding: SessionBinding, now: float) -> None:
        with self._lock:
            self._local.write_session(pool, session, binding, now)
            self._pending.append(Op("session", session_name(pool, session), binding=binding, now=now))
        self._routing_changed()

    def _update(self, kind: str, name: str, fn: Callable[[Any], T]) -> T:
        fields = _BOOKKEEPING.get(kind)

        def run(state: Any) -> tuple[T, bool]:
            before = _routing_view(state, fields)
            result = fn(state)
            return result, fields is None or _routing_view(state, fields) != before

        try:
            with self._lock:
                result, routing = update_record(self._local, kind, name, run)
                self._pending.append(Op(kind, name, fn, merge=not routing))
        except BaseException:
            with self._lock:
                self._stale.add((kind, name))  # ``fn`` may have changed the record halfway
            if may_block():
                self._refresh_stale()
            raise
        if routing:
            self._routing_changed()
        return result

    def _routing_changed(self) -> None:
        if may_block():
            self._flush()  # a thread that may wait writes it through itself: no hand-off
        else:
            self._wake.set()

    # -- the sync ------------------------------------------------------------------------------------

    def sync(self) -> None:
        """Write the queue and pull other processes' changes now (the sync thread does it every interval)."""
        if self._stale:
            self._refresh_stale()
        self._flush()
        with self._flush_lock:
            token, changes = self._inner.changes(self._token)
            if not self.degraded:
                self._token = token
                self._absorb(changes)

    def _refresh_stale(self) -> None:
        """Take again, from the store, the records an ``fn`` raised in (the queue first: it is older)."""
        self._flush()
        with self._lock:
            stale, self._stale = self._stale, set()
        changes = [Change(kind, name, encode(read_record(self._inner, kind, name))) for kind, name in stale]
        self._absorb(changes)

    def _flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                ops, self._pending = self._pending, []
            if not ops:
                return
            try:
                changes = apply_ops(self._inner, _coalesced(ops))
            except Exception as exc:  # an unguarded store: the replica keeps the writes locally
                logger.warning("writing routing state to %r failed: %s", self._inner, exc)
                return
            if not self.degraded:  # a degraded store answers from fresh local state: keep ours
                self._absorb(changes)

    def _absorb(self, changes: Sequence[Change]) -> None:
        """Take the stored records, then replay on them the writes still queued (made meanwhile)."""
        with self._lock:
            for change in changes:
                if change.kind == "session":
                    binding = decode_binding(change.text)
                    if binding is not None:
                        self._local.write_session(*split_session(change.name), binding, 0.0)
                    continue
                if change.kind not in KINDS:
                    continue
                stored = decode(KINDS[change.kind], change.text)  # type: ignore[type-var]
                queued = [_as_write(op) for op in self._pending if (op.kind, op.name) == change[:2] and op.fn]

                def take(state: Any, stored: Any = stored, queued: list[Any] = queued) -> None:
                    copy_into(state, stored)
                    for fn in queued:
                        fn(state)

                update_record(self._local, change.kind, change.name, take)

    def close(self) -> None:
        """Write what is queued, stop the sync thread and close the store."""
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=5)
        self._flush()
        self._inner.close()

    def __repr__(self) -> str:
        return repr(self._inner)


def _sync_loop(ref: weakref.ReferenceType[ReplicaStore], wake: threading.Event) -> None:
    """The sync thread: holds the store only while syncing, so an unclosed, dropped store ends it."""
    while True:
        store = ref()
        if store is None or store._closed:
            return
        interval = store.sync_interval_s
        del store
        wake.wait(interval)
        wake.clear()
        store = ref()
        if store is None or store._closed:
            return
        try:
            store.sync()
        except Exception as exc:  # never let the thread die: the next interval tries again
            logger.warning("syncing routing state with %r failed: %s", store._inner, exc)
        del store


def _flush_at_exit(ref: weakref.ReferenceType[ReplicaStore]) -> None:
    store = ref()
    if store is not None and not store._closed:
        store._flush()


def may_block() -> bool:
    """True when no event loop runs in this thread: the caller may wait for the store."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False


def _routing_view(state: Any, bookkeeping: tuple[str, ...] | None) -> tuple[Any, ...]:
    """What other processes route on: every field but the bookkeeping (quotas as text: they nest and
    are changed in place)."""
    if bookkeeping is None:
        return ()
    return tuple(
        repr(value) if isinstance(value, dict) else value
        for value in map(state.__getattribute__, _ROUTING_FIELDS[type(state)])
    )


def _coalesced(ops: Sequence[Op]) -> list[Op]:
    """The queue as the store gets it: each run of bookkeeping on one record (not interrupted by a
    routing change to it) becomes one merge, so a batch copies a record once, not once per request."""
    out: list[Op] = []
    runs: dict[tuple[str, str], list[Callable[[Any], Any]]] = {}
    for op in ops:
        key = (op.kind, op.name)
        if not op.merge or op.fn is None:
            runs.pop(key, None)  # bookkeeping queued after this op merges after it
            out.append(op)
            continue
        run = runs.get(key)
        if run is None:
            run = runs[key] = []
            out.append(Op(op.kind, op.name, _merged(run, _BOOKKEEPING[op.kind])))
        run.append(op.fn)
    return out


def _as_write(op: Op) -> Callable[[Any], Any]:
    assert op.fn is not None
    return _merged([op.fn], _BOOKKEEPING[op.kind]) if op.merge else op.fn


def _merged(fns: list[Callable[[Any], Any]], fields: tuple[str, ...]) -> Callable[[Any], None]:
    """``fns`` as a merge into a stored record: run on a copy, only their bookkeeping fields are kept."""

    def merge(state: Any) -> None:
        trial = copy.copy(state)
        for name in state.__slots__:  # nothing ``fns`` mutate in place may be shared with ``state``
            value = getattr(state, name)
            if isinstance(value, list):
                setattr(trial, name, list(value))
            elif isinstance(value, dict):
                setattr(trial, name, copy.deepcopy(value))
        for fn in fns:
            fn(trial)
        for name in fields:
            setattr(state, name, getattr(trial, name))

    return merge
