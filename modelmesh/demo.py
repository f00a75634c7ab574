"""``modelmesh demo``: a scripted failover tour against three local fake providers, no API keys needed.

It starts ``modelmesh.testing`` fakes posing as openai, groq and mistral (serving each one's first
catalogue chat model), points the ``*_API_KEY`` / ``*_BASE_URL`` variables at them for the duration of
the run, builds the client through the ordinary ``modelmesh.create("chat-completion", config=...)``
path, then sends plain and streamed requests while injecting an outage (503), a rate limit (429 with
Retry-After) and an auth failure (401), with recoveries and one manual rotation. The observer events
are printed as they happen. It owns no routing logic: what it shows is what the mesh decided.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import openai

import modelmesh
from modelmesh.providers import catalog
from modelmesh.status_view import make_console, status_tables
from modelmesh.testing import FakeProvider, Fault

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletionMessageParam
    from rich.console import Console, RenderableType

    from modelmesh.client import MeshClient

POOL = "chat-completion"
PROVIDERS = ("openai", "groq", "mistral")
PROMPTS = ("Write a haiku about failover.", "What is a capability pool?", "Name three prime numbers.")


@dataclass(slots=True)
class RequestRecord:
    number: int
    stream: bool
    model: str | None = None  # the real model, from the response
    provider: str | None = None  # from the observer's request event
    attempts: int = 0
    failovers: int = 0
    text: str = ""
    error: str | None = None

    @property
    def is_complete(self) -> bool:
        return self.error is None and bool(self.text) and self.model is not None


@dataclass(slots=True)
class DemoResult:
    requests: list[RequestRecord] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    elapsed_s: float = 0.0

    @property
    def failed(self) -> int:
        return sum(1 for r in self.requests if not r.is_complete)

    @property
    def failovers(self) -> int:
        return sum(r.failovers for r in self.requests)

    @property
    def exit_code(self) -> int:
        return 0 if self.requests and self.failed == 0 else 1


class DemoObserver:
    """Prints routing events as they happen and keeps what the summary needs."""

    enabled = True

    def __init__(self, console: Console, result: DemoResult, refresh: Callable[[], None]) -> None:
        self._console = console
        self._result = result
        self._refresh = refresh
        self.last_request: Mapping[str, Any] | None = None

    def emit(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("event"))
        self._result.events[kind] += 1
        line = _event_line(event)
        if kind == "request":
            self.last_request = event
        elif line:
            self._console.print(line)
        self._refresh()


def _event_line(event: Mapping[str, Any]) -> str | None:
    kind = event.get("event")
    if kind == "attempt" and event.get("outcome") != "ok":
        status = f"HTTP {event['status']}" if event.get("status") else str(event.get("outcome"))
        return (
            f"    [red]x[/] attempt {event.get('attempt')} {event.get('provider')}/{event.get('model')}: "
            f"{status} ({event.get('outcome')}, {event.get('latency_ms')} ms)"
        )
    if kind == "failover":
        return f"    [yellow]failover[/] {event.get('from')} -> {event.get('to')} ({event.get('reason')})"
    if kind == "deactivation":
        target = event.get("model") or event.get("provider")
        return f"    [red]deactivated[/] {event.get('scope')} {target}: {event.get('reason')}"
    if kind == "rotation":
        return f"    [magenta]rotation[/] {event.get('from')} -> {event.get('to')} ({event.get('reason')})"
    return None


class DemoRun:
    """The scripted tour: requests, fault injection and waiting for recoveries, printed as it goes."""

    def __init__(self, client: MeshClient, fakes: dict[str, FakeProvider], console: Console) -> None:
        self.client = client
        self.fakes = fakes
        self.console = console
        self.result = DemoResult()
        self._live: Any = None
        self._standby: set[str] = set()
        self.observer = DemoObserver(console, self.result, self._refresh)
        client.mesh.observer = self.observer  # any object with `enabled` and `emit(event)` will do

    # -- script steps ------------------------------------------------------------------------------

    def phase(self, title: str) -> None:
        self.console.rule(f"[bold]{title}")

    def note(self, text: str) -> None:
        self.console.print(f"  [dim]{text}[/]")

    def ask(self, *, stream: bool = False) -> RequestRecord:
        self.track_recoveries()
        record = RequestRecord(len(self.result.requests) + 1, stream)
        self.result.requests.append(record)
        messages: list[ChatCompletionMessageParam] = [
            {"role": "user", "content": PROMPTS[record.number % len(PROMPTS)]}
        ]
        self.observer.last_request = None
        try:
            if stream:
                record.model, record.text = self._stream(messages)
            else:
                response = self.client.chat.completions.create(model=POOL, messages=messages)
                choice = response.choices[0]
                record.model = response.model
                if choice.finish_reason is not None:
                    record.text = choice.message.content or ""
        except openai.APIError as exc:
            record.error = f"{type(exc).__name__}: {exc}"
        event: Mapping[str, Any] = self.observer.last_request or {}
        record.provider = event.get("provider")
        record.attempts = int(event.get("attempts") or 0)
        record.failovers = int(event.get("failovers") or 0)
        self._print_request(record)
        self.track_recoveries()
        return record

    def track_recoveries(self) -> None:
        """Print the models that came back from standby since the last look (the mesh emits no event)."""
        status = self.client.pool_status()[POOL]
        standby = {m.model for m in status.models if not m.active}
        for key in sorted(self._standby - standby):
            self.console.print(f"    [green]recovered[/] {key} is active again (cooldown over)")
        self._standby = standby

    def _stream(self, messages: list[ChatCompletionMessageParam]) -> tuple[str | None, str]:
        model: str | None = None
        parts: list[str] = []
        finished = False
        stream = self.client.chat.completions.create(model=POOL, messages=messages, stream=True)
        for chunk in stream:
            model = chunk.model or model
            for choice in chunk.choices:
                parts.append(choice.delta.content or "")
                finished = finished or choice.finish_reason is not None
        return model, "".join(parts) if finished else ""

    def _print_request(self, record: RequestRecord) -> None:
        mode = "stream" if record.stream else "plain "
        if not record.is_complete:
            self.console.print(
                f"  [bold red]#{record.number:02d} {mode} FAILED[/] {record.error or 'incomplete'}"
            )
            return
        extra = f", {_plural(record.failovers, 'failover')}" if record.failovers else ""
        self.console.print(
            f"  [green]#{record.number:02d}[/] {mode} -> [bold cyan]{record.provider}/{record.model}[/] "
            f"[dim]({_plural(record.attempts, 'attempt')}{extra})[/] "
            f"[dim italic]{_clip(record.text)}[/]"
        )

    def rotate(self) -> None:
        chosen = self.client.rotate(POOL)
        self.note(f"client.rotate({POOL!r}) -> {chosen}")
        self.track_recoveries()

    def show_status(self) -> None:
        for table in status_tables(self.client.pool_status(), self.client.active_providers()):
            self.console.print(table)

    def wait_for_recovery(self, timeout_s: float) -> None:
        """Sleep until every model of the pool is active again (cooldowns over), or ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        waits = [m.back_in_s or 0.0 for m in self.client.pool_status()[POOL].models if not m.active]
        if waits:
            self.note(f"waiting {max(waits):.1f} s for cooldowns to end ...")
        while time.monotonic() < deadline:
            self.track_recoveries()
            if not self._standby:
                return
            time.sleep(0.05)
            self._refresh()

    # -- live footer (terminals only) --------------------------------------------------------------

    @contextlib.contextmanager
    def live(self) -> Iterator[None]:
        if not self.console.is_terminal:
            yield
            return
        from rich.live import Live

        with Live(self._footer(), console=self.console, transient=True, refresh_per_second=8) as live:
            self._live = live
            try:
                yield
            finally:
                self._live = None

    def _refresh(self) -> None:
        if self._live is not None:
            self._live.update(self._footer())

    def _footer(self) -> RenderableType:
        status = self.client.pool_status()[POOL]
        cells = []
        for model in status.models:
            mark = "[green]up[/]" if model.active else f"[red]standby {model.back_in_s or 0:.1f}s[/]"
            cells.append(f"{model.model} {mark}")
        return f"[bold]{POOL}[/] current [cyan]{status.current_model}[/] | " + " | ".join(cells)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _clip(text: str, width: int = 48) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def script(run: DemoRun, cooldown_s: float) -> None:
    """The tour itself; each step's effect is explained by the events it prints."""
    openai_fake, groq, mistral = (run.fakes[name] for name in PROVIDERS)
    run.phase("1. All providers healthy")
    run.ask()
    run.ask(stream=True)
    run.show_status()

    run.phase("2. openai outage: every request gets HTTP 503")
    openai_fake.set_outage(Fault.status(503))
    run.note("openai: set_outage(Fault.status(503))")
    run.ask()
    run.ask(stream=True)
    run.ask()
    run.show_status()

    run.phase("3. groq rate-limited: HTTP 429 with Retry-After: 1; openai's outage ends")
    openai_fake.recover()
    run.note("openai: recover() (its model stays in standby until the cooldown ends)")
    groq.fail_next(1, Fault.status(429, retry_after=1))
    run.note("groq: fail_next(1, Fault.status(429, retry_after=1))")
    run.ask()
    run.ask(stream=True)
    run.note("waiting 1.2 s: groq's Retry-After has passed, it takes its traffic back")
    time.sleep(1.2)
    run.ask()

    run.phase("4. Manual rotation")
    run.rotate()
    run.ask(stream=True)
    run.show_status()

    run.phase("5. mistral auth failure: HTTP 401 (key revoked)")
    run.wait_for_recovery(cooldown_s + 1)
    mistral.set_outage(Fault.status(401))
    run.note("mistral: set_outage(Fault.status(401))")
    run.ask()
    run.ask(stream=True)
    run.show_status()

    run.phase("6. mistral's key fixed: every model recovers")
    mistral.recover()
    run.note("mistral: recover()")
    run.wait_for_recovery(cooldown_s + 1)
    run.ask()
    run.ask(stream=True)
    run.show_status()


def summary_tables(result: DemoResult) -> list[Any]:
    from rich.table import Table

    totals = Table(title="[bold]Demo summary", title_justify="left")
    totals.add_column("metric")
    totals.add_column("value", justify="right")
    rows = [
        ("requests", len(result.requests)),
        ("  streamed", sum(1 for r in result.requests if r.stream)),
        ("attempts", sum(r.attempts for r in result.requests)),
        ("failovers", result.failovers),
        ("deactivations", result.events["deactivation"]),
        ("rotations", result.events["rotation"]),
        ("failed requests", result.failed),
    ]
    for name, value in rows:
        totals.add_row(name, str(value))
    answered = Table(title="[bold]Answered by", title_justify="left")
    answered.add_column("provider")
    answered.add_column("model")
    answered.add_column("requests", justify="right")
    counts = Counter((r.provider, r.model) for r in result.requests if r.is_complete)
    for (provider, model), count in sorted(counts.items(), key=lambda item: (-item[1], str(item[0]))):
        answered.add_row(str(provider), str(model), str(count))
    return [totals, answered]


@contextlib.contextmanager
def demo_environment(fakes: dict[str, FakeProvider]) -> Iterator[None]:
    """Point the providers' env vars at the fakes (and hide every other provider) for the block."""
    names: set[str] = set()
    for preset in catalog.presets().values():
        names.update(n for n in (preset.key_env, preset.base_url_env) if n)
    saved = {name: os.environ.pop(name) for name in names if name in os.environ}
    try:
        for name, fake in fakes.items():
            os.environ.update(fake.env(name.upper()))
        yield
    finally:
        for name in names:
            os.environ.pop(name, None)
        os.environ.update(saved)


def demo_config(models: list[str], cooldown_s: float) -> dict[str, Any]:
    """Pools only: the providers are auto-detected from the environment, as in user code."""
    pool = {
        "capability": POOL,
        "models": models,
        "recovery": {"cooldown_s": cooldown_s},
        "retry": {"max_attempts": 2, "backoff_base_s": 0.05, "backoff_max_s": 0.2},
    }
    return {"pools": {POOL: pool}}


def run_demo(console: Console | None = None, cooldown_s: float = 3.0) -> DemoResult:
    console = console or make_console()
    started = time.perf_counter()
    chat_models = {name: _first_chat_model(name) for name in PROVIDERS}
    fakes = {name: FakeProvider(name=name, models=[chat_models[name]]) for name in PROVIDERS}
    with contextlib.ExitStack() as stack:
        for fake in fakes.values():
            stack.enter_context(fake)
        stack.enter_context(demo_environment(fakes))
        console.print(
            "[bold]ModelMesh demo[/]: fake providers on 127.0.0.1 "
            + ", ".join(f"{n} ({chat_models[n]}, port {f.port})" for n, f in fakes.items())
        )
        client = modelmesh.create(POOL, config=demo_config(list(chat_models.values()), cooldown_s))
        stack.callback(client.close)
        run = DemoRun(client, fakes, console)
        with run.live():
            script(run, cooldown_s)
    result = run.result
    result.elapsed_s = time.perf_counter() - started
    console.rule("[bold]Summary")
    for table in summary_tables(result):
        console.print(table)
    verdict = "[bold green]OK[/]" if result.exit_code == 0 else "[bold red]FAILED[/]"
    console.print(
        f"{verdict}: {len(result.requests) - result.failed}/{len(result.requests)} requests answered, "
        f"{result.failed} failed, {result.failovers} failovers, in {result.elapsed_s:.1f} s"
    )
    return result


def _first_chat_model(provider: str) -> str:
    for model in catalog.default_models(provider):
        if any(c.endswith(".chat-completion") for c in model.capabilities):
            return model.id
    raise LookupError(f"the catalogue has no chat model for {provider!r}")
