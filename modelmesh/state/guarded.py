"""A fuse around any state store: a store fault never fails a request, and never discards an answer.

``GuardedStore`` forwards every call to the store it guards. When that store raises (a damaged,
read-only or deleted SQLite file, a full disk, a bug in a user's store), the guard logs one warning on
``modelmesh.state``, sets ``degraded`` (the mesh turns that into an observability event and
``pool_status()`` reports it) and serves from a process-local ``MemoryStateStore``, so routing carries
on from fresh local health (mirroring every read to seed it would cost the hot path a copy of every
record it reads, for the rare fault). At most every ``reconnect_interval_s`` one
caller probes the guarded store with a read and a write; when both succeed, shared state resumes (what
was written locally meanwhile is not merged back: the shared record wins, as in the Redis store).

A store that can tell it was replaced under its feet (``verify()``: the SQLite file was deleted or
swapped) is checked at most once per ``verify_interval_s``. Deliberately not here: the Redis store's
own degraded mode (it handles its faults itself; guarding it as well is harmless).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from modelmesh.state.base import (
    ModelState,
    PoolState,
    ProviderState,
    SessionBinding,
    Snapshot,
    StateStore,
    read_snapshot,
)
from modelmesh.state.batch import Change, Op, apply_ops
from modelmesh.state.memory import MemoryStateStore

T = TypeVar("T")

logger = logging.getLogger("modelmesh.state")

_PROBE = "__modelmesh_probe__"


class GuardedStore:
    def __init__(
        self,
        open_store: Callable[[], StateStore],
        *,
        name: str = "state store",
        reconnect_interval_s: float = 2.0,
        verify_interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._open, self._name, self._clock = open_store, name, clock
        self.reconnect_interval_s, self.verify_interval_s = reconnect_interval_s, verify_interval_s
        self._local = MemoryStateStore()
        self._lock = threading.Lock()
        self._inner: StateStore | None = None
        self._degraded = False
        self._next_probe = 0.0
        self._next_verify = 0.0
        try:
            self._inner = open_store()
        except Exception as exc:  # a damaged file at start: run on local state and keep probing
            self._degrade(exc)

    @property
    def degraded(self) -> bool:
        return self._degraded or bool(getattr(self._inner, "degraded", False))

    @property
    def inner(self) -> StateStore | None:
        return self._inner

    def read_models(self, keys: Sequence[str]) -> dict[str, ModelState]:
        return self._call("read_models", keys)

    def update_model(self, key: str, fn: Callable[[ModelState], T]) -> T:
        return self._call("update_model", key, fn)

    def read_provider(self, name: str) -> ProviderState:
        return self._call("read_provider", name)

    def update_provider(self, name: str, fn: Callable[[ProviderState], T]) -> T:
        return self._call("update_provider", name, fn)

    def read_pool(self, name: str) -> PoolState:
        return self._call("read_pool", name)

    def update_pool(self, name: str, fn: Callable[[PoolState], T]) -> T:
        return self._call("update_pool", name, fn)

    def read_session(self, pool: str, session: str, now: float) -> SessionBinding | None:
        return self._call("read_session", pool, session, now)

    def write_session(self, pool: str, session: str, binding: SessionBinding, now: float) -> None:
        self._call("write_session", pool, session, binding, now)

    def snapshot(self, models: Sequence[str], providers: Sequence[str], pools: Sequence[str]) -> Snapshot:
        return self._call("snapshot", models, providers, pools)

    def changes(self, since: int | None) -> tuple[int | None, list[Change]]:
        """The guarded store's changes; none while degraded (local state is this process's own)."""
        return self._call("changes", since)

    def apply_batch(self, ops: Sequence[Op]) -> list[Change]:
        return self._call("apply_batch", ops)

    def close(self) -> None:
        if self._inner is not None:
            try:
                self._inner.close()
            except Exception as exc:
                logger.warning("closing the %s failed: %s", self._name, exc)

    def __repr__(self) -> str:
        return repr(self._inner) if self._inner is not None else f"GuardedStore({self._name})"

    def _call(self, method: str, *args: Any) -> Any:
        if self._degraded and not self._recovered():
            return self._on_local(method, *args)
        inner = self._inner
        assert inner is not None  # never opened means degraded until a probe opens it
        try:
            self._verify(inner)
            result: Any
            if method == "snapshot":
                result = read_snapshot(inner, *args)
            elif method == "apply_batch":
                result = apply_ops(inner, *args)
            else:
                result = getattr(inner, method)(*args)
        except Exception as exc:
            self._degrade(exc)
            return self._on_local(method, *args)
        return result

    def _on_local(self, method: str, *args: Any) -> Any:
        if method == "changes":
            return args[0], []
        if method == "apply_batch":
            return apply_ops(self._local, *args)
        return getattr(self._local, method)(*args)

    def _verify(self, inner: Any) -> None:
        verify = getattr(inner, "verify", None)
        if verify is None:
            return
        now = self._clock()
        if now >= self._next_verify:
            self._next_verify = now + self.verify_interval_s
            verify()

    def _degrade(self, exc: Exception) -> None:
        with self._lock:
            if self._degraded:
                return
            self._degraded = True
            self._next_probe = self._clock() + self.reconnect_interval_s
        logger.warning(
            "the %s failed (%s: %s); routing continues on this process's local state and retries the "
            "store every %ss",
            self._name,
            type(exc).__name__,
            exc,
            self.reconnect_interval_s,
        )

    def _recovered(self) -> bool:
        """One caller per interval probes the store (a read and a write); True once it answers again."""
        now = self._clock()
        with self._lock:
            if now < self._next_probe:
                return False
            self._next_probe = now + self.reconnect_interval_s
        try:
            self._inner = self._reopened_if_replaced(self._inner)
            self._inner.read_pool(_PROBE)
            self._inner.update_pool(_PROBE, lambda state: None)
            self._inner.update_pool(_PROBE, _touch)
        except Exception:
            return False
        self._degraded = False
        logger.warning("the %s answers again; shared routing state resumes", self._name)
        return True

    def _reopened_if_replaced(self, inner: StateStore | None) -> StateStore:
        """The store to probe: reopened when it never opened or its file was deleted or replaced, so
        every process converges on the file now at the path instead of each keeping its own."""
        if inner is not None:
            try:
                self._next_verify = 0.0
                self._verify(inner)
                return inner
            except Exception:
                with contextlib.suppress(Exception):
                    inner.close()
        return self._open()


def _touch(state: PoolState) -> None:
    state.cursor = (state.cursor + 1) % 1_000_000  # a real write: a read-only file fails here
