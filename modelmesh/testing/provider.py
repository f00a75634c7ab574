"""``FakeProvider``: a local server speaking a provider's real wire format, with scripted faults.

The object users hold. It owns the provider's identity (name, models, key, dialect), its records
(every request received) and its fault schedule, and starts/stops its server. The server side lives
in ``app`` / ``pipeline`` / ``openai_app`` / ``anthropic_app`` / ``delivery`` / ``hosting``, imported only by
:meth:`FakeProvider.start`, so ``import modelmesh.testing`` stays free of Starlette and uvicorn.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

from modelmesh.testing.faults import Fault, FaultSchedule
from modelmesh.testing.recording import RecordedRequest
from modelmesh.testing.responder import Responder, default_responder

if TYPE_CHECKING:
    from types import TracebackType

    from modelmesh.testing.hosting import ServerThread

DialectName = Literal["openai", "anthropic"]
DIALECTS: tuple[str, ...] = ("openai", "anthropic")


class FakeProvider:
    """A fake LLM provider on ``127.0.0.1`` (see the package docstring for the wire details).

    ``base_url`` is the API root for the ``openai`` dialect (``http://127.0.0.1:PORT/v1``, as given to
    ``openai.OpenAI(base_url=...)``) and the host root for ``anthropic`` (as ``ANTHROPIC_BASE_URL``).
    ``calls()`` counts model requests (anything but model listing); ``requests`` has them all.
    """

    #: How long ``Fault.no_done`` holds a finished stream open before closing it.
    hold_s: float = 30.0

    def __init__(
        self,
        name: str = "fake",
        models: Sequence[str] | None = None,
        dialect: DialectName = "openai",
        api_key: str | None = None,
        responder: Responder | None = None,
    ) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"dialect must be one of {DIALECTS}, got {dialect!r}")
        self.name = name
        self.models: list[str] = list(models) if models is not None else [f"{name}-model"]
        self.dialect: DialectName = dialect
        self.api_key: str = api_key if api_key is not None else f"sk-test-{name}"
        self.responder: Responder | None = responder
        self.schedule = FaultSchedule()
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._count = 0
        self._server: ServerThread | None = None
        self.port: int | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> FakeProvider:
        """Start serving on a free port (idempotent); returns self."""
        if self._server is not None:
            return self
        from modelmesh.testing.app import build_app
        from modelmesh.testing.hosting import ServerThread

        server = ServerThread(build_app(self, self.dialect), name=self.name)
        self.port = server.start()
        self._server = server
        return self

    def stop(self) -> None:
        """Stop serving, closing every connection and freeing the port (idempotent)."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    @property
    def is_running(self) -> bool:
        return self._server is not None

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self.base_url if self.port else "stopped"
        return f"FakeProvider(name={self.name!r}, dialect={self.dialect!r}, models={self.models!r}, {where})"

    # -- addresses -------------------------------------------------------------------------------
    @property
    def host_url(self) -> str:
        """``http://127.0.0.1:PORT``; raises if the server was never started."""
        if self.port is None:
            raise RuntimeError(f"FakeProvider {self.name!r} is not started; call start() first")
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.host_url}/v1" if self.dialect == "openai" else self.host_url

    def env(self, prefix: str) -> dict[str, str]:
        """``{PREFIX_API_KEY, PREFIX_BASE_URL}`` pointing a client at this fake."""
        return {f"{prefix}_API_KEY": self.api_key, f"{prefix}_BASE_URL": self.base_url}

    # -- records ---------------------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """A copy of the requests received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    def calls(self, model: str | None = None) -> int:
        """Number of model requests received (401s and faulted ones included), optionally for ``model``."""
        with self._lock:
            return sum(1 for r in self._requests if r.model is not None and model in (None, r.model))

    def record(self, request: RecordedRequest) -> int:
        """Store a request; returns its sequence number (used in ids). Called by the server."""
        with self._lock:
            self._requests.append(request)
            self._count += 1
            return self._count

    def reset(self) -> None:
        """Forget requests and clear every fault, outage and script."""
        with self._lock:
            self._requests.clear()
        self.schedule.clear()

    # -- faults ----------------------------------------------------------------------------------
    def fail_next(self, n: int, fault: Fault, model: str | None = None) -> None:
        """The next ``n`` model requests (only those for ``model``, if given) get ``fault``."""
        self.schedule.fail_next(n, fault, model)

    def set_outage(self, fault: Fault, model: str | None = None) -> None:
        """Every request (for ``model``, if given; model listing included) gets ``fault`` until recover()."""
        self.schedule.set_outage(fault, model)

    def recover(self) -> None:
        """End the outage."""
        self.schedule.recover()

    def script(self, faults: Sequence[Fault | None]) -> None:
        """Consume one entry per model request, in order; ``None`` means answer normally."""
        self.schedule.script(list(faults))

    # -- used by the server ----------------------------------------------------------------------
    @property
    def active_responder(self) -> Responder:
        return self.responder or default_responder

    def abort_connection(self, scope: MutableMapping[str, Any]) -> None:
        server = self._server
        if server is not None:
            server.abort(scope)


@contextmanager
def fake_providers(
    specs: int | Sequence[Mapping[str, Any]], dialect: DialectName = "openai"
) -> Iterator[tuple[FakeProvider, ...]]:
    """Start several fakes for a ``with`` block: ``fake_providers(3)`` gives ``fake-1``..``fake-3``,
    each with one model ``fake-N-model``; or pass a list of ``FakeProvider`` keyword dicts (a missing
    ``name`` becomes ``fake-N``, a missing ``dialect`` the ``dialect`` argument)."""
    items: list[Mapping[str, Any]] = [{} for _ in range(specs)] if isinstance(specs, int) else list(specs)
    providers: list[FakeProvider] = []
    try:
        for index, spec in enumerate(items, start=1):
            kwargs = {"name": f"fake-{index}", "dialect": dialect, **spec}
            providers.append(FakeProvider(**kwargs).start())
        yield tuple(providers)
    finally:
        for provider in providers:
            provider.stop()
