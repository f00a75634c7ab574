"""A second process for the concurrency tests: ``python -m tests.state.worker sqlite|redis TARGET PREFIX N``.

Opens the store, prints ``ready``, waits for a line on stdin, then makes N failure increments and N
round-robin steps, printing each cursor value it was handed.
"""

from __future__ import annotations

import sys

from modelmesh.state.base import StateStore
from tests.state.contract import advance_cursor, increment_failures


def main(kind: str, target: str, prefix: str, count: int) -> None:
    store: StateStore
    if kind == "sqlite":
        from modelmesh.state.sqlite import SQLiteStateStore

        store = SQLiteStateStore(path=target, prefix=prefix)
    else:
        from modelmesh.state.redis import RedisStateStore

        store = RedisStateStore(url=target, prefix=prefix)
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(count):
        store.update_model("p.m", increment_failures)
        print(store.update_pool("chat", advance_cursor))
    store.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
