"""``modelmesh.sqlite.v1``: routing state in one SQLite file, shared by the processes that open it.

Owns the file's schema (one key/value table of JSON records, see ``codec``), the per-thread connections
and the read-modify-write transactions. Every ``update_*`` runs inside ``BEGIN IMMEDIATE``: the write
lock is taken before the record is read, so concurrent threads and processes serialise on the file and
no update is lost. WAL mode lets readers proceed while a writer holds the lock. Reads go to the file
each call (no cache), so a deactivation written by another process is seen by the next request.

Every write stamps its row with the prefix's next ``version``, so ``changes(since)`` lists what any
process wrote after a point, cheaply: ``PRAGMA data_version`` first says whether another connection
committed at all. ``apply_batch`` writes a queue of updates in one transaction. Both serve
``replica.ReplicaStore``, which keeps routing off the file.

Deliberately not here: schema migrations (the JSON values tolerate added and removed fields) and
networked file systems (SQLite locking over NFS is unreliable; use Redis to share across hosts).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

from modelmesh.state.base import ModelState, PoolState, ProviderState, SessionBinding, Snapshot
from modelmesh.state.batch import Change, Op
from modelmesh.state.codec import KINDS, R, decode, decode_binding, encode, encode_binding

T = TypeVar("T")

DEFAULT_PATH: Final = "modelmesh-state.sqlite3"
_TABLE: Final = "modelmesh_state"
_SCHEMA: Final = f"""
CREATE TABLE IF NOT EXISTS {_TABLE} (
    prefix TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (prefix, kind, name)
) WITHOUT ROWID
"""
_INDEX: Final = f"CREATE INDEX IF NOT EXISTS {_TABLE}_version ON {_TABLE} (prefix, version)"
_ADD_VERSION: Final = f"ALTER TABLE {_TABLE} ADD COLUMN version INTEGER NOT NULL DEFAULT 0"
_SELECT: Final = f"SELECT value FROM {_TABLE} WHERE prefix = ? AND kind = ? AND name = ?"
_SELECT_MANY: Final = f"SELECT name, value FROM {_TABLE} WHERE prefix = ? AND kind = 'model' AND name"
_UPSERT: Final = (  # ?1 prefix, ?2 kind, ?3 name, ?4 value; the row gets the prefix's next version
    f"INSERT INTO {_TABLE} (prefix, kind, name, value, version) VALUES (?1, ?2, ?3, ?4, "
    f"(SELECT coalesce(max(version), 0) + 1 FROM {_TABLE} WHERE prefix = ?1)) "
    "ON CONFLICT (prefix, kind, name) DO UPDATE SET value = excluded.value, version = excluded.version"
)
_CHANGED: Final = f"SELECT kind, name, value, version FROM {_TABLE} WHERE prefix = ? AND version > ?"
_LATEST: Final = f"SELECT coalesce(max(version), 0) FROM {_TABLE} WHERE prefix = ?"
_SWEEP: Final = (
    f"DELETE FROM {_TABLE} WHERE prefix = ?1 AND kind = 'session' AND name IN (SELECT name FROM {_TABLE} "
    "WHERE prefix = ?1 AND kind = 'session' AND CAST(json_extract(value, '$[1]') AS REAL) <= ?2 LIMIT 8)"
)
_BATCH: Final = 500  # stay well under SQLite's bound-parameter limit in read_models


class _Handle:
    """Holds one thread's connection; weak-referenceable, unlike ``sqlite3.Connection`` itself."""

    __slots__ = ("__weakref__", "conn")

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn


class SQLiteStateStore:
    """``modelmesh.sqlite.v1``: ``path`` is the database file, ``prefix`` namespaces the records in it."""

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_PATH,
        prefix: str = "modelmesh",
        *,
        busy_timeout_s: float = 30.0,
        **_options: object,
    ) -> None:
        self.path = Path(path)
        self.prefix = prefix
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._handles: weakref.WeakSet[_Handle] = weakref.WeakSet()  # a dead thread's handle drops out
        self._lock = threading.Lock()
        self._closed = False
        if self.path.parent != Path():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._connection()  # create the file and schema now, so a bad path fails at build time
        self._identity = _identity(self.path)

    # -- protocol ------------------------------------------------------------------------------------

    def read_models(self, keys: Sequence[str]) -> dict[str, ModelState]:
        found: dict[str, str] = {}
        conn = self._connection()
        for start in range(0, len(keys), _BATCH):
            batch = keys[start : start + _BATCH]
            marks = ",".join("?" * len(batch))
            query = f"{_SELECT_MANY} IN ({marks})"
            found.update(conn.execute(query, (self.prefix, *batch)).fetchall())
        return {key: decode(ModelState, found.get(key)) for key in keys}

    def update_model(self, key: str, fn: Callable[[ModelState], T]) -> T:
        return self._update("model", key, ModelState, fn)

    def read_session(self, pool: str, session: str, now: float) -> SessionBinding | None:
        binding = decode_binding(self._read("session", f"{pool}:{session}"))
        return binding if binding is not None and binding.expires > now else None

    def write_session(self, pool: str, session: str, binding: SessionBinding, now: float) -> None:
        """One row per session; every write also deletes a few expired ones, so the table stays bounded
        by the live sessions."""
        with self._transaction() as conn:
            conn.execute(_UPSERT, (self.prefix, "session", f"{pool}:{session}", encode_binding(binding)))
            conn.execute(_SWEEP, (self.prefix, now))

    def snapshot(self, models: Sequence[str], providers: Sequence[str], pools: Sequence[str]) -> Snapshot:
        return Snapshot(
            self.read_models(models) if models else {},
            {name: self.read_provider(name) for name in providers},
            {name: self.read_pool(name) for name in pools},
        )

    def read_provider(self, name: str) -> ProviderState:
        return decode(ProviderState, self._read("provider", name))

    def update_provider(self, name: str, fn: Callable[[ProviderState], T]) -> T:
        return self._update("provider", name, ProviderState, fn)

    def read_pool(self, name: str) -> PoolState:
        return decode(PoolState, self._read("pool", name))

    def update_pool(self, name: str, fn: Callable[[PoolState], T]) -> T:
        return self._update("pool", name, PoolState, fn)

    def close(self) -> None:
        """Close every thread's connection; the store cannot be used afterwards."""
        with self._lock:
            self._closed = True
            handles = list(self._handles)
            self._handles.clear()
        for handle in handles:
            handle.conn.close()

    def changes(self, since: int | None) -> tuple[int, list[Change]]:
        """Records written after version ``since`` (all of them for None), and the version now.

        A ``since`` beyond the file's versions means the file was replaced: everything is reported."""
        conn = self._connection()
        seen = conn.execute("PRAGMA data_version").fetchone()[0]
        if since is not None and seen == getattr(self._local, "data_version", None):
            return since, []  # no other connection committed since this thread last looked
        self._local.data_version = seen
        latest = int(conn.execute(_LATEST, (self.prefix,)).fetchone()[0])
        start = -1 if since is None or since > latest else since
        rows = conn.execute(_CHANGED, (self.prefix, start)).fetchall()
        return max([latest, *(int(row[3]) for row in rows)]), [Change(k, n, v) for k, n, v, _ in rows]

    def apply_batch(self, ops: Sequence[Op]) -> list[Change]:
        """Run every op in one ``BEGIN IMMEDIATE`` transaction, each record read and written once."""
        changes: list[Change] = []
        with self._transaction() as conn:
            for (kind, name), group in _grouped(ops).items():
                if kind == "session":
                    changes += [self._bind(conn, op) for op in group]
                    continue
                _, after = self._rewrite(conn, kind, name, KINDS[kind], _in_order(group))  # type: ignore[type-var]
                changes.append(Change(kind, name, after))
        return changes

    def _bind(self, conn: sqlite3.Connection, op: Op) -> Change:
        assert op.binding is not None
        text = encode_binding(op.binding)
        conn.execute(_UPSERT, (self.prefix, "session", op.name, text))
        conn.execute(_SWEEP, (self.prefix, op.now))
        return Change("session", op.name, text)

    def verify(self) -> None:
        """Raise when the file was deleted or replaced since it was opened: SQLite would silently go on
        with the unlinked file (or another process would create a new one), and processes would diverge."""
        if str(self.path) != ":memory:" and _identity(self.path) != self._identity:
            raise sqlite3.OperationalError(f"the state file {str(self.path)!r} was deleted or replaced")

    def __repr__(self) -> str:
        return f"SQLiteStateStore(path={str(self.path)!r}, prefix={self.prefix!r})"

    # -- internals -----------------------------------------------------------------------------------

    def _read(self, kind: str, name: str) -> str | None:
        row = self._connection().execute(_SELECT, (self.prefix, kind, name)).fetchone()
        return None if row is None else str(row[0])

    def _update(self, kind: str, name: str, cls: type[R], fn: Callable[[R], T]) -> T:
        with self._transaction() as conn:
            return self._rewrite(conn, kind, name, cls, fn)[0]

    def _rewrite(
        self, conn: sqlite3.Connection, kind: str, name: str, cls: type[R], fn: Callable[[R], T]
    ) -> tuple[T, str]:
        """Inside a transaction: run ``fn`` on the stored record and store it again if it changed;
        (``fn``'s result, the record as stored)."""
        row = conn.execute(_SELECT, (self.prefix, kind, name)).fetchone()
        before = None if row is None else str(row[0])
        state = decode(cls, before)
        result = fn(state)
        after = encode(state)
        if after != before:  # a no-op update (a read under the lock) writes nothing
            conn.execute(_UPSERT, (self.prefix, kind, name, after))
        return result, after

    def _transaction(self) -> _Transaction:
        return _Transaction(self._connection())

    def _connection(self) -> sqlite3.Connection:
        handle: _Handle | None = getattr(self._local, "handle", None)
        if handle is not None and not self._closed:
            return handle.conn
        with self._lock:
            if self._closed:
                raise sqlite3.ProgrammingError(f"{self!r} is closed")
            conn = _connect(self.path, self._busy_timeout_s)
            handle = _Handle(conn)
            self._handles.add(handle)
        self._local.handle = handle
        return conn


def _grouped(ops: Sequence[Op]) -> dict[tuple[str, str], list[Op]]:
    """Ops by record, each record's in queue order (first appearance orders the records)."""
    groups: dict[tuple[str, str], list[Op]] = {}
    for op in ops:
        groups.setdefault((op.kind, op.name), []).append(op)
    return groups


def _in_order(group: Sequence[Op]) -> Callable[[Any], None]:
    """One record's ops in a batch as one update: each ``fn`` in queue order."""

    def run(state: Any) -> None:
        for op in group:
            assert op.fn is not None
            op.fn(state)

    return run


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back if the body raises (including inside ``fn``)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")  # take the write lock before reading: no lost updates
        return self.conn

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        if exc_type is None:
            try:
                self.conn.execute("COMMIT")
                return
            except BaseException:
                self._rollback()
                raise
        self._rollback()

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def _connect(path: Path, busy_timeout_s: float) -> sqlite3.Connection:
    # Standby reasons quote providers; the file is created for its owner only (SQLite gives its -wal
    # and -shm files the database file's mode).
    if str(path) != ":memory:":
        os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    # isolation_level=None: no implicit transactions; _Transaction issues BEGIN/COMMIT itself.
    conn = sqlite3.connect(path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable across process crashes
    conn.execute(_SCHEMA)
    _add_versions(conn)
    return conn


def _add_versions(conn: sqlite3.Connection) -> None:
    """A file made before rows carried versions gets the column (its rows read as version 0)."""
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({_TABLE})")}
    if "version" not in columns:
        with _Transaction(conn):
            columns = {row[1] for row in conn.execute(f"PRAGMA table_info({_TABLE})")}
            if "version" not in columns:  # another process may have added it while this one waited
                conn.execute(_ADD_VERSION)
    conn.execute(_INDEX)
