"""The HTTP/1.1 exchange without I/O (``modelmesh.upstream.http1``): bytes in, bytes out, no sockets.

What the wire tests (``test_upstream.py``) cannot do cheaply: feed every answer in every possible split,
down to one byte at a time, and read the connection's verdict after each.
"""

from __future__ import annotations

from typing import Any

import httpcore2
import pytest

from modelmesh.upstream.http1 import Http1Connection, Http1Exchange


class _Idle:
    """A stream the server has not written to."""

    def get_extra_info(self, info: str) -> object:
        return False


def request(
    method: bytes = b"POST", body: Any = b"x", headers: list[tuple[bytes, bytes]] | None = None
) -> httpcore2.Request:
    return httpcore2.Request(method, "http://127.0.0.1:9/v1/chat", headers=headers or [], content=body)


def read_all(exchange: Http1Exchange, pieces: list[bytes]) -> bytes:
    """Feeds ``pieces`` as the driver would (head first, then the body as it is asked for)."""
    pending = iter(pieces)
    while not exchange.head_ready():
        exchange.feed(next(pending, b""))
    body = b""
    while (chunk := exchange.take()) != b"":
        if chunk is None:
            exchange.feed(next(pending, b""))
        else:
            body += chunk
    return body


def splits(reply: bytes) -> list[list[bytes]]:
    """The reply whole, in two at every point, and one byte at a time."""
    return [[reply], *([reply[:n], reply[n:]] for n in range(1, len(reply))), [bytes([b]) for b in reply]]


FRAMINGS = [
    (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello", b"hello", True),
    (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        b"abcde",
        True,
    ),
    (b"HTTP/1.1 204 No Content\r\n\r\n", b"", True),
    (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok", b"ok", True),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok", b"ok", False),
    (b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", b"ok", False),
]


@pytest.mark.parametrize(("reply", "body", "reusable"), FRAMINGS)
def test_every_framing_reads_the_same_however_the_bytes_arrive(
    reply: bytes, body: bytes, reusable: bool
) -> None:
    for pieces in splits(reply):
        connection = Http1Connection(origin=None, stream=_Idle(), keepalive_expiry=5.0)
        exchange = connection.begin(request())
        assert read_all(exchange, pieces) == body
        assert exchange.status in (200, 204)
        assert connection.let_go(exchange) is not reusable  # True: the connection must be closed
        assert connection.is_idle() is reusable


def test_an_answer_without_length_ends_with_the_connection_and_it_is_not_reused() -> None:
    connection = Http1Connection(origin=None, stream=_Idle(), keepalive_expiry=None)
    exchange = connection.begin(request())
    assert read_all(exchange, [b"HTTP/1.1 200 OK\r\n\r\nuntil ", b"the end", b""]) == b"until the end"
    assert connection.let_go(exchange) is True


@pytest.mark.parametrize(
    ("pieces", "message"),
    [
        ([b""], "without sending a response"),
        ([b"HTTP/1.1 100 Continue\r\n\r\n", b""], "without sending a response"),
        ([b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nshort", b""], "mid-answer"),
        ([b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n", b""], "mid-answer"),
        ([b"NOT HTTP AT ALL\r\n\r\n"], "not valid HTTP/1.1"),
        ([b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n"], "switched protocols"),
        (
            [b"HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ws\r\n\r\nxx"],
            "switched protocols",
        ),
        ([b"HTTP/1.1 101 Switching Protocols\r\n\r\n"], "switched protocols"),
    ],
)
def test_broken_answers_are_httpcore2_protocol_errors(pieces: list[bytes], message: str) -> None:
    exchange = Http1Exchange(request())
    with pytest.raises(httpcore2.RemoteProtocolError, match=message):
        read_all(exchange, pieces)


def test_a_head_answer_has_no_body_whatever_its_length_says() -> None:
    exchange = Http1Exchange(request(b"HEAD", b""))
    assert read_all(exchange, [b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n"]) == b""


def test_the_request_leaves_in_one_piece_and_a_streamed_body_is_chunked() -> None:
    exchange = Http1Exchange(request(body=b"x"))
    assert exchange.body(b"hello") == b""  # held back to leave with the head
    sent = exchange.end()
    assert sent.startswith(b"POST /v1/chat HTTP/1.1\r\n") and sent.endswith(b"\r\n\r\nhello")

    chunked = Http1Exchange(request(headers=[(b"Transfer-Encoding", b"chunked")], body=[b"one"]))
    sent = chunked.body(b"one") + chunked.body(b"") + chunked.end()
    assert sent.endswith(b"\r\n\r\n3\r\none\r\n0\r\n\r\n")

    mentioned = Http1Exchange(request(headers=[(b"x-note", b"transfer-encoding: chunked")]))
    sent = mentioned.body(b"one") + mentioned.end()
    assert sent.endswith(b"chunked\r\n\r\none")  # a value that mentions it declares nothing


def test_a_large_body_is_sent_as_it_comes_not_held_whole() -> None:
    exchange = Http1Exchange(request())
    assert len(exchange.body(b"x" * 100_000)) > 100_000  # past the hold-back size: out at once
    assert exchange.end() == b""


@pytest.mark.parametrize(
    "header",
    [(b"x-evil", b"a\r\nx-injected: 1"), (b"x-evil", b"a\nb"), (b"x-evil\r\nx", b"1"), (b"a:b", b"1")],
)
def test_header_injection_is_refused_and_leaves_the_connection_idle(header: tuple[bytes, bytes]) -> None:
    connection = Http1Connection(origin=None, stream=_Idle(), keepalive_expiry=None)
    with pytest.raises(httpcore2.LocalProtocolError, match="line break or colon"):
        connection.begin(request(headers=[header]))
    assert connection.is_idle()


def test_a_busy_connection_takes_no_second_request_and_one_let_go_early_is_closed() -> None:
    connection = Http1Connection(origin=None, stream=_Idle(), keepalive_expiry=None)
    exchange = connection.begin(request())
    with pytest.raises(httpcore2.ConnectionNotAvailable):
        connection.begin(request())
    exchange.feed(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf")
    assert connection.let_go(exchange) is True  # the rest would arrive on the next request
    assert connection.is_closed() and connection.let_go(exchange) is False  # once


def test_an_idle_connection_expires_by_time_or_when_the_server_wrote_or_closed() -> None:
    class Readable:
        def get_extra_info(self, info: str) -> object:
            return info == "is_readable"

    assert Http1Connection(origin=None, stream=Readable(), keepalive_expiry=None).has_expired()
    connection = Http1Connection(origin=None, stream=_Idle(), keepalive_expiry=0.0)
    exchange = connection.begin(request())
    read_all(exchange, [b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"])
    connection.let_go(exchange)
    assert connection.is_idle() and connection.has_expired()


@pytest.mark.parametrize(
    "reply",
    [
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloNOT HTTP AT ALL\r\n\r\n",  # longer than declared
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n\x00junk",
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nx",
    ],
)
def test_bytes_after_a_complete_answer_leave_it_whole_and_the_connection_is_closed(reply: bytes) -> None:
    """httpcore2 returned such an answer (and h11 never read past its end): it is not an error, but
    the connection must not carry the rest into the next request's answer."""
    for pieces in splits(reply):
        connection = Http1Connection(origin=None, stream=_Idle(), keepalive_expiry=5.0)
        exchange = connection.begin(request())
        assert read_all(exchange, pieces) == b"hello"
        if pieces == [reply]:  # read with the answer; arriving later, they make the idle socket stale
            assert connection.let_go(exchange) is True
            assert connection.is_closed()


@pytest.mark.parametrize(
    "start",
    [
        b"HTTP/1.1 200 OK\r\n",  # then header lines without end
        b"HTTP/1.1 200 ",  # then a reason phrase without end (each piece was joined to the last: quadratic)
    ],
)
def test_a_head_larger_than_httpcore2s_limit_is_a_protocol_error(start: bytes) -> None:
    """httpcore2 (h11) refused heads beyond 100 KiB; without a limit, memory grows with what is sent."""
    exchange = Http1Exchange(request())
    exchange.feed(start)
    line = b"x-filler: " + b"a" * 1000 + b"\r\n" if start.endswith(b"\n") else b"a" * 1024
    with pytest.raises(httpcore2.RemoteProtocolError, match="100 KiB"):
        for _ in range(200):  # 200 KiB
            exchange.feed(line)


def test_a_head_up_to_the_limit_is_read() -> None:
    filler = [b"x-filler-%d: %s\r\n" % (n, b"a" * 1000) for n in range(90)]  # ~90 KiB
    exchange = Http1Exchange(request())
    reply = b"HTTP/1.1 200 OK\r\n" + b"".join(filler) + b"content-length: 2\r\n\r\nok"
    assert read_all(exchange, [reply[n : n + 1000] for n in range(0, len(reply), 1000)]) == b"ok"
    assert len(exchange.headers) == 91


def test_a_connection_whose_request_was_cut_short_is_closed_whatever_the_answer_says() -> None:
    connection = Http1Connection(origin=None, stream=_Idle(), keepalive_expiry=5.0)
    exchange = connection.begin(request())
    exchange.cut_short = True  # the driver could not send it whole (the server stopped reading)
    assert read_all(exchange, [b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 2\r\n\r\nno"]) == b"no"
    assert connection.let_go(exchange) is True


def test_a_refused_header_is_named_without_its_value() -> None:
    """A key pasted with its line break (``sk-...\\n`` from a file) must not reach an exception's text."""
    secret = b"Bearer sk-live-0123456789abcdef"
    with pytest.raises(httpcore2.LocalProtocolError) as refused:
        Http1Exchange(request(headers=[(b"authorization", secret + b"\n")]))
    assert "authorization" in str(refused.value)
    assert "sk-live" not in str(refused.value) and "sk-live" not in repr(refused.value)


@pytest.mark.parametrize(
    ("start", "unit"),
    [
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1;", b"a" * 1024),  # a chunk header
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n", b"x: 1\r\n" * 170),
        (b"", b"HTTP/1.1 100 Continue\r\n\r\n" * 40),  # informational answers, none final
    ],
    ids=["chunk-header", "trailers", "1xx"],
)
def test_bytes_without_end_that_carry_no_body_are_a_protocol_error(start: bytes, unit: bytes) -> None:
    """h11 refused any piece of framing beyond 100 KiB; httptools reads an endless chunk header or
    trailer section for ever, and the caller's deadline is never looked at (no body byte comes)."""
    exchange = Http1Exchange(request())
    with pytest.raises(httpcore2.RemoteProtocolError, match="100 KiB"):
        exchange.feed(start or unit)
        for _ in range(200):  # ~200 KiB
            while exchange.take():
                pass
            exchange.feed(unit)


def test_a_stream_of_tiny_chunks_is_no_framing_flood() -> None:
    chunks = b"".join(b"1\r\n%c\r\n" % (97 + n % 26) for n in range(100_000))  # 600 KB for 100 KB
    reply = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n"
    exchange = Http1Exchange(request())
    body = read_all(exchange, [reply[n : n + 4096] for n in range(0, len(reply), 4096)])
    assert len(body) == 100_000
