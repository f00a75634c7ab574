"""The failure boundary: every exception raised while an attempt is built, sent, read or translated
becomes a classified ``Failure`` here, and only here.

Like httpx's one exception map at the I/O boundary: connectors raise ``ConnectorError`` with their own
classification; transport errors map by type; an exception nobody expected (a translator bug, a
provider answer no code path foresaw) becomes a ``CONNECTOR`` failure, so the request fails over
instead of escaping to the caller as a foreign exception class.
"""

from __future__ import annotations

import httpx2

from modelmesh.connectors.base import ConnectorError, Failure, FailureKind


def failure_of(exc: BaseException, *, before_content: bool = True) -> Failure:
    """What ``exc``, raised during one attempt, means for routing. Before any content, a refused
    connection or a silent peer is evidence against the provider's endpoint (``suspects_endpoint``)."""
    if isinstance(exc, ConnectorError):
        return exc.failure
    if isinstance(exc, httpx2.PoolTimeout):
        # Waiting for one of our own pooled connections says nothing about the provider.
        message = f"no free connection in the mesh's pool ({_describe(exc)})"
        return Failure(FailureKind.TIMEOUT, message, blames_provider=False)
    if isinstance(exc, httpx2.TimeoutException | TimeoutError):
        silent = before_content and not isinstance(exc, httpx2.WriteTimeout)
        return Failure(FailureKind.TIMEOUT, _describe(exc), suspects_endpoint=silent)
    if isinstance(exc, httpx2.ConnectError):
        return Failure(FailureKind.CONNECTION, _describe(exc), suspects_endpoint=before_content)
    if isinstance(exc, httpx2.TransportError | OSError):
        return Failure(FailureKind.CONNECTION, _describe(exc))
    return Failure(FailureKind.CONNECTOR, f"the connector failed on this answer: {_describe(exc)}")


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
