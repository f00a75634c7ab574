"""The pool's books without I/O (``modelmesh.upstream.ledger``): which connection a request gets.

The sync and async pools both keep their books here, so these cases hold for both; the wire tests
(``test_upstream.py``) check the waiting and the sockets around them.
"""

from __future__ import annotations

import ssl

import httpcore2
import pytest

from modelmesh.upstream.ledger import Checkout, Key, PoolLedger

A: Key = (b"http", b"a.example", 80)
B: Key = (b"http", b"b.example", 80)


class Conn:
    """A connection as the books see it: idle or busy, expired or not."""

    def __init__(self, name: str) -> None:
        self.name, self.idle, self.expired = name, True, False

    def is_idle(self) -> bool:
        return self.idle

    def is_available(self) -> bool:
        return self.idle

    def has_expired(self) -> bool:
        return self.expired

    def __repr__(self) -> str:
        return self.name


def ledger(max_connections: int = 10, max_idle: int = 10) -> PoolLedger:
    context = ssl.create_default_context()
    return PoolLedger(context, max_connections=max_connections, max_idle=max_idle)


def opened(books: PoolLedger, name: str) -> Conn:
    assert books.checkout(A) == Checkout(None, True, [])  # a slot for a new connection
    connection = Conn(name)
    books.opened(connection)
    return connection


def test_a_request_gets_the_most_recently_used_idle_connection() -> None:
    books = ledger()
    first, second = opened(books, "first"), opened(books, "second")
    assert books.release(first, A) == [] and books.release(second, A) == []
    assert books.checkout(A).connection is second
    assert books.checkout(B) == Checkout(None, True, [])  # another origin: a new connection


def test_a_stale_idle_connection_is_handed_back_to_close_before_asking_again() -> None:
    books = ledger()
    connection = opened(books, "stale")
    books.release(connection, A)
    connection.expired = True
    assert books.checkout(A) == Checkout(None, False, [connection])
    assert books.connections_open == 0 and books.checkout(A) == Checkout(None, True, [])


def test_at_the_limit_an_idle_connection_elsewhere_is_evicted_else_the_request_waits() -> None:
    books = ledger(max_connections=1)
    connection = opened(books, "to-a")
    assert books.checkout(B) == Checkout(None, False, [])  # busy: wait
    books.release(connection, A)
    assert books.checkout(B) == Checkout(None, False, [connection])  # evicted, to close
    assert books.checkout(B) == Checkout(None, True, [])


def test_beyond_the_idle_limit_a_connection_is_let_go() -> None:
    books = ledger(max_idle=1)
    first, second = opened(books, "first"), opened(books, "second")
    assert books.release(first, A) == []
    assert books.release(second, A) == [second]  # one idle connection is kept
    assert books.connections_open == 1


def test_expired_idle_connections_never_pile_up() -> None:
    books = ledger()
    first, second = opened(books, "first"), opened(books, "second")
    books.release(first, A)
    first.expired = True
    assert books.release(second, A) == [first]  # the oldest idle one is looked at on each release
    assert books.connections_open == 1 and books.checkout(A).connection is second


def test_a_busy_or_failed_connection_is_not_kept_and_a_failed_open_frees_its_slot() -> None:
    books = ledger(max_connections=1)
    connection = opened(books, "broken")
    connection.idle = False  # closed mid-answer
    assert books.release(connection, A) == [connection]
    assert books.checkout(A) == Checkout(None, True, [])
    books.not_opened()
    assert books.connections_open == 0


def test_closing_the_books_hands_back_every_connection_and_refuses_more() -> None:
    books = ledger()
    idle, busy = opened(books, "idle"), opened(books, "busy")
    books.release(idle, A)
    assert set(books.close_all()) == {idle, busy}
    assert books.release(busy, A) == [busy] and books.connections_open == 0
    with pytest.raises(RuntimeError, match="closed"):
        books.checkout(A)


def test_only_http_and_https_are_spoken() -> None:
    with pytest.raises(httpcore2.UnsupportedProtocol, match="'ftp'"):
        ledger().key(httpcore2.Request("GET", "ftp://a.example/"))
    assert ledger().key(httpcore2.Request("GET", "https://a.example/x")) == (b"https", b"a.example", 443)
