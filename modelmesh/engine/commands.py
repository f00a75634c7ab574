"""The vocabulary between the request flow and its drivers.

The flow yields a command and receives its result: ``Send`` -> the provider's ``httpx2.Response`` (head
only), ``Read`` -> the next body chunk or ``None`` at the end, ``Sleep`` and ``Close`` -> ``None``,
``Decide`` -> what the routing call returned (a call that may touch a store doing blocking I/O). An
exception raised while a driver carries out a command is thrown back into the flow at that ``yield``,
where the failure boundary classifies it. ``Respond`` and ``RespondStream`` hand the caller's answer
out; after a ``RespondStream`` the body follows as ``Emit`` commands and as the ``emit`` bytes that
ride on ``Read`` commands.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any

import httpx2

# Commands are plain slotted dataclasses, not frozen ones: a frozen dataclass's __init__ costs about
# three times as much, and the flow builds one command per streamed chunk.


@dataclass(slots=True)
class Send:
    request: httpx2.Request


@dataclass(slots=True)
class Read:
    """The next chunk of ``upstream``'s body; a driver that can enforce it gives up after ``timeout_s``
    (None: the read timeout the request was sent with is already the bound). ``emit``: bytes of the
    caller's streamed body that the driver hands out before reading (so a relayed chunk costs the flow
    one resumption, not two)."""

    upstream: httpx2.Response
    timeout_s: float | None
    emit: bytes = b""


@dataclass(slots=True)
class Sleep:
    seconds: float


@dataclass(slots=True)
class Close:
    upstream: httpx2.Response


@dataclass(slots=True)
class Decide:
    """Call ``fn(*args)`` and send back its result: a routing step that may read or write the state
    store. The async driver runs it off the event loop when the store does blocking I/O."""

    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()


@dataclass(slots=True)
class Respond:
    """A complete answer for the caller (its body already in ``response``)."""

    response: httpx2.Response


@dataclass(slots=True)
class RespondStream:
    """The head of a streamed answer; its body follows as ``Emit`` commands."""

    status: int
    headers: list[tuple[bytes, bytes]]


@dataclass(slots=True)
class Emit:
    data: bytes


Command = Send | Read | Sleep | Close | Decide | Respond | RespondStream | Emit
Flow = Generator[Command, Any, None]
