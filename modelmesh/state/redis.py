"""``modelmesh.redis.v1``: routing state shared through Redis, with a local fallback when Redis is away.

Owns the key layout (``{prefix}:model:{key}``, ``{prefix}:provider:{name}``, ``{prefix}:pool:{name}``,
each a JSON record, see ``codec``), the optimistic read-modify-write and the degraded mode.

Atomicity: ``update_*`` reads the record, runs ``fn`` on it and writes it back with a compare-and-set
Lua script that only writes if the stored text is still the one that was read; otherwise it re-reads
and runs ``fn`` again. So no update (a failure count, a round-robin step) is lost between processes or
hosts, and ``fn`` may run more than once: it must only mutate the record it is given. Threads of one
process updating the same record queue on a local lock first, so retries only happen between processes.

Degraded mode: when Redis cannot be reached (timeouts are short, 0.5 s by default) the store logs one
warning on ``modelmesh.state`` and serves from a ``MemoryStateStore`` that mirrors every record this
process has read or written, so routing carries on from the last shared state it saw. At most every
``reconnect_interval_s`` one caller probes Redis; when it answers, the records changed locally are
written back unless Redis already holds them (``SET NX``: Redis wins) and shared routing resumes.
Deliberately not here: merging concurrent histories, key expiry, Redis Cluster hash tags.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar, cast

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

from modelmesh.state.base import (
    ModelState,
    PoolState,
    ProviderState,
    SessionBinding,
    Snapshot,
    read_record,
    update_record,
)
from modelmesh.state.codec import R, Record, copy_into, decode, decode_binding, encode, encode_binding
from modelmesh.state.memory import MemoryStateStore

T = TypeVar("T")

logger = logging.getLogger("modelmesh.state")

DEFAULT_URL: Final = "redis://localhost:6379/0"
# Any Redis failure (down, timing out, loading, read-only replica, ...) moves routing to local state.
_UNREACHABLE: Final = (RedisError, OSError)
# KEYS[1] record; ARGV[1] "1" if a value was read ("0": the key was absent), ARGV[2] it, ARGV[3] new value.
_COMPARE_AND_SET: Final = """
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '0' then
  if current then return 0 end
elseif current ~= ARGV[2] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
"""
_DEFAULTS: Final = {
    "model": encode(ModelState()),
    "provider": encode(ProviderState()),
    "pool": encode(PoolState()),
}


class RedisStateStore:
    """``modelmesh.redis.v1``: ``url`` of the Redis server (may carry a password), ``prefix`` of its keys."""

    def __init__(
        self,
        url: str = DEFAULT_URL,
        prefix: str = "modelmesh",
        *,
        timeout_s: float = 0.5,
        reconnect_interval_s: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        **_options: object,
    ) -> None:
        self.prefix = prefix
        self.reconnect_interval_s = reconnect_interval_s
        self._clock = clock
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),  # fail fast and fall back; the probe below does the retrying
        )
        self._cas = self._client.register_script(_COMPARE_AND_SET)
        self._where = _describe(self._client)  # host, port and db only: never the password
        self._local = MemoryStateStore()
        self._lock = threading.Lock()
        self._probe_lock = threading.Lock()
        # Threads of this process updating one record queue here instead of racing each other's CAS.
        self._stripes = [threading.Lock() for _ in range(64)]
        self._degraded = False
        self._next_probe = 0.0
        self._touched: set[tuple[str, str]] = set()  # records changed while degraded
        # The text last read or written per key: an update first tries its compare-and-set against it,
        # which saves the GET round trip whenever no other process wrote the record in between.
        self._seen: dict[str, str | None] = {}

    @property
    def degraded(self) -> bool:
        """True while Redis is unreachable and routing runs on this process's local state."""
        return self._degraded

    # -- protocol ------------------------------------------------------------------------------------

    def read_models(self, keys: Sequence[str]) -> dict[str, ModelState]:
        if not keys or not self._use_shared():
            return self._local.read_models(keys)
        try:
            values = cast("list[bytes | None]", self._client.mget([self._key("model", key) for key in keys]))
        except _UNREACHABLE as exc:
            self._degrade(exc)
            return self._local.read_models(keys)
        states: dict[str, ModelState] = {}
        for key, value in zip(keys, values, strict=True):
            text = self._seen[self._key("model", key)] = None if value is None else value.decode()
            states[key] = state = decode(ModelState, text)
            self._mirror("model", key, state)
        return states

    def update_model(self, key: str, fn: Callable[[ModelState], T]) -> T:
        return self._update("model", key, ModelState, fn)

    def read_session(self, pool: str, session: str, now: float) -> SessionBinding | None:
        if self._use_shared():
            try:
                value = cast("bytes | None", self._client.get(self._key("session", f"{pool}:{session}")))
            except _UNREACHABLE as exc:
                self._degrade(exc)
            else:
                binding = decode_binding(value)
                return binding if binding is not None and binding.expires > now else None
        return self._local.read_session(pool, session, now)

    def write_session(self, pool: str, session: str, binding: SessionBinding, now: float) -> None:
        """One key per session, expiring with the binding: Redis drops it, nothing is rewritten."""
        self._local.write_session(pool, session, binding, now)
        if self._use_shared():
            ttl_ms = max(int((binding.expires - now) * 1000), 1)
            try:
                self._client.set(
                    self._key("session", f"{pool}:{session}"), encode_binding(binding), px=ttl_ms
                )
            except _UNREACHABLE as exc:
                self._degrade(exc)

    def snapshot(self, models: Sequence[str], providers: Sequence[str], pools: Sequence[str]) -> Snapshot:
        """The records in one MGET (a routing decision's one read)."""
        wanted = (
            [("model", k) for k in models]
            + [("provider", p) for p in providers]
            + [("pool", p) for p in pools]
        )
        if not wanted or not self._use_shared():
            return self._local.snapshot(models, providers, pools)
        keys = [self._key(kind, name) for kind, name in wanted]
        try:
            values = cast("list[bytes | None]", self._client.mget(keys))
        except _UNREACHABLE as exc:
            self._degrade(exc)
            return self._local.snapshot(models, providers, pools)
        snapshot = Snapshot({}, {}, {})
        into = {"model": snapshot.models, "provider": snapshot.providers, "pool": snapshot.pools}
        classes = {"model": ModelState, "provider": ProviderState, "pool": PoolState}
        for (kind, name), key, value in zip(wanted, keys, values, strict=True):
            text = None if value is None else value.decode()
            self._seen[key] = text
            state = decode(classes[kind], text)
            into[kind][name] = state  # type: ignore[index]
            self._mirror(kind, name, state)
        return snapshot

    def read_provider(self, name: str) -> ProviderState:
        return self._read("provider", name, ProviderState)

    def update_provider(self, name: str, fn: Callable[[ProviderState], T]) -> T:
        return self._update("provider", name, ProviderState, fn)

    def read_pool(self, name: str) -> PoolState:
        return self._read("pool", name, PoolState)

    def update_pool(self, name: str, fn: Callable[[PoolState], T]) -> T:
        return self._update("pool", name, PoolState, fn)

    def close(self) -> None:
        self._client.close()
        self._local.close()

    def __repr__(self) -> str:
        mode = ", degraded" if self._degraded else ""
        return f"RedisStateStore({self._where}, prefix={self.prefix!r}{mode})"

    # -- shared path ---------------------------------------------------------------------------------

    def _read(self, kind: str, name: str, cls: type[R]) -> R:
        if self._use_shared():
            try:
                key = self._key(kind, name)
                value = cast("bytes | None", self._client.get(key))
                text = self._seen[key] = None if value is None else value.decode()
                state = decode(cls, text)
            except _UNREACHABLE as exc:
                self._degrade(exc)
            else:
                self._mirror(kind, name, state)
                return state
        return cast(R, self._local_read(kind, name))

    def _update(self, kind: str, name: str, cls: type[R], fn: Callable[[R], T]) -> T:
        if self._use_shared():
            try:
                with self._stripes[hash((kind, name)) % len(self._stripes)]:
                    result, state = self._compare_and_set(kind, name, cls, fn)
            except _UNREACHABLE as exc:
                self._degrade(exc)
            else:
                self._mirror(kind, name, state)
                return result
        with self._lock:
            self._touched.add((kind, name))
        return self._local_update(kind, name, fn)

    def _compare_and_set(self, kind: str, name: str, cls: type[R], fn: Callable[[R], T]) -> tuple[T, R]:
        key = self._key(kind, name)
        attempt = 0
        while True:
            optimistic = attempt == 0 and key in self._seen
            if optimistic:
                before = self._seen[key]  # the CAS below catches a stale text
            else:
                raw = cast("bytes | None", self._client.get(key))
                before = None if raw is None else raw.decode()
            state = decode(cls, before)
            result = fn(state)
            after = encode(state)
            if after == (_DEFAULTS[kind] if before is None else before) and not optimistic:
                return result, state  # nothing changed: no write, nothing to race with
            args = ("0", "", after) if before is None else ("1", before, after)
            if self._cas(keys=[key], args=args):
                self._seen[key] = after
                return result, state
            self._seen.pop(key, None)
            attempt += 1
            if attempt > 2:  # heavy contention on one key: spread the retries out a little
                time.sleep(random.uniform(0, min(0.0005 * attempt, 0.01)))

    def _key(self, kind: str, name: str) -> str:
        return f"{self.prefix}:{kind}:{name}"

    # -- degraded mode -------------------------------------------------------------------------------

    def _use_shared(self) -> bool:
        return not self._degraded or self._probe()

    def _degrade(self, exc: BaseException) -> None:
        with self._lock:
            if self._degraded:
                return
            self._degraded = True
            self._next_probe = self._clock() + self.reconnect_interval_s
        logger.warning(
            "Redis state store at %s failed (%s: %s); routing on local state, retrying every %g s",
            self._where,
            type(exc).__name__,
            str(exc)[:200],
            self.reconnect_interval_s,
        )

    def _probe(self) -> bool:
        """Try Redis again if the interval has passed (one caller at a time); True once it is back."""
        if self._clock() < self._next_probe or not self._probe_lock.acquire(blocking=False):
            return False
        try:
            if not self._degraded:
                return True
            self._next_probe = self._clock() + self.reconnect_interval_s
            try:
                self._client.ping()
                self._write_back()
            except _UNREACHABLE:
                return False
            self._degraded = False
            logger.info("Redis state store at %s is reachable again; routing on shared state", self._where)
            return True
        finally:
            self._probe_lock.release()

    def _write_back(self) -> None:
        """Offer the records changed while degraded to Redis; a record Redis already holds wins."""
        with self._lock:
            touched, self._touched = self._touched, set()
        try:
            pipe = self._client.pipeline(transaction=False)
            for kind, name in touched:
                pipe.set(self._key(kind, name), encode(self._local_read(kind, name)), nx=True)
            pipe.execute()
        except _UNREACHABLE:
            with self._lock:
                self._touched |= touched
            raise

    def _mirror(self, kind: str, name: str, state: Record) -> None:
        self._local_update(kind, name, lambda local: copy_into(local, state))

    def _local_read(self, kind: str, name: str) -> Record:
        return read_record(self._local, kind, name)

    def _local_update(self, kind: str, name: str, fn: Callable[[Any], T]) -> T:
        return update_record(self._local, kind, name, fn)


def _describe(client: redis.Redis) -> str:
    """Where the client connects, for logs and repr, without credentials."""
    kwargs: dict[str, Any] = client.connection_pool.connection_kwargs
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={kwargs.get('db', 0)}"
    scheme = "rediss" if issubclass(client.connection_pool.connection_class, redis.SSLConnection) else "redis"
    return f"{scheme}://{kwargs.get('host', 'localhost')}:{kwargs.get('port', 6379)}/{kwargs.get('db', 0)}"
