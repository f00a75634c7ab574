"""The ``modelmesh`` command: ``demo`` (a failover tour on local fakes), ``status`` (pool health) and
``serve`` (the OpenAI-compatible proxy of ``modelmesh.serve``).

Owns argument parsing and exit codes. It deliberately holds no rendering (``modelmesh.status_view``,
``modelmesh.watch`` and ``modelmesh.demo`` do) and no routing logic: every command goes through
``modelmesh.create()`` like user code does. Exit codes: 0 success, 1 the command ran and failed (no
providers, a demo request not answered), 2 bad arguments.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

import modelmesh

if TYPE_CHECKING:
    from modelmesh.mesh import ModelMesh
    from modelmesh.serve.settings import ProxySettings

DEFAULT_CAPABILITY = "chat-completion"
DEMO_PACKAGES = ("rich", "starlette", "uvicorn")  # the `demo` extra


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="modelmesh",
        description="Capability-driven routing with retry, rotation and failover under the OpenAI SDK.",
    )
    parser.add_argument("--version", action="version", version=f"modelmesh {modelmesh.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = commands.add_parser(
        "demo",
        help="failover tour against three local fake providers (no API keys needed)",
        description="Start three local fake providers, inject outages, rate limits and auth failures, "
        "and show live how the mesh keeps every request answered.",
    )
    demo.add_argument(
        "--cooldown",
        type=_positive_float,
        default=3.0,
        metavar="SECONDS",
        help="recovery cooldown of the demo pool (default: 3)",
    )
    status = commands.add_parser(
        "status",
        help="show pool status for a config file or the providers detected from the environment",
        description="Build the mesh (no requests are sent) and print every pool's models and health.",
    )
    _add_mesh_source(status)
    _add_watch(status)
    _add_serve(commands)
    return parser


def _add_mesh_source(command: argparse.ArgumentParser) -> None:
    """``--config FILE`` or capabilities: where a command's mesh comes from."""
    command.add_argument("--config", metavar="FILE", help="YAML or JSON MeshConfig file")
    command.add_argument(
        "capabilities",
        nargs="*",
        metavar="CAPABILITY",
        help=f"capabilities to build pools for without --config (default: {DEFAULT_CAPABILITY})",
    )


def _add_watch(status: argparse.ArgumentParser) -> None:
    status.add_argument(
        "--watch", action="store_true", help="refresh the view until Ctrl-C (rich live view, or plain text)"
    )
    status.add_argument(
        "--interval",
        type=_positive_float,
        default=1.0,
        metavar="SECONDS",
        help="--watch refresh (default: 1)",
    )
    status.add_argument("--count", type=_count, metavar="N", help="--watch: stop after N refreshes")


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number > 0, got {text!r}")
    return int(text)


def _add_serve(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run an OpenAI-compatible HTTP proxy routing through the mesh (any language, any SDK)",
        description="Serve /v1/chat/completions, /v1/embeddings, audio, images and /v1/models (pools "
        "listed as models) over HTTP, routed by pool name with retry and failover, plus /health, "
        "/health/live, /health/ready and /metrics. See docs/serve.md.",
    )
    _add_mesh_source(serve)
    serve.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="TCP port (default: 8080)")
    auth = serve.add_argument_group("proxy auth")
    auth.add_argument(
        "--api-key",
        action="append",
        metavar="KEY",
        help="accept 'Authorization: Bearer KEY' (repeat for several keys; default: $MODELMESH_PROXY_KEY, "
        "comma-separated). Without a key only a loopback --host is allowed",
    )
    auth.add_argument(
        "--insecure-no-auth",
        action="store_true",
        help="allow a non-loopback --host without a proxy key (anyone who reaches it spends your keys)",
    )
    _add_serve_options(serve)


def _add_serve_options(serve: argparse.ArgumentParser) -> None:
    limits = serve.add_argument_group("limits")
    limits.add_argument(
        "--max-body-mb",
        type=_positive_float,
        default=8.0,
        metavar="MB",
        help="request body limit (default: 8)",
    )
    limits.add_argument(
        "--max-concurrency",
        type=_positive_int,
        default=256,
        metavar="N",
        help="requests at once (default: 256)",
    )
    limits.add_argument(
        "--body-timeout",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="body deadline (default: 30)",
    )
    limits.add_argument(
        "--header-timeout",
        type=_positive_float,
        default=10.0,
        metavar="SECONDS",
        help="head deadline (default: 10)",
    )
    limits.add_argument(
        "--send-timeout",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="reader stall (default: 30)",
    )
    ops = serve.add_argument_group("exposure and operations")
    ops.add_argument(
        "--redact-provider-errors",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="replace provider error text with its status, type and code (default: on unless --host is "
        "loopback)",
    )
    ops.add_argument("--pools-only", action="store_true", help="route pool names only, not real model ids")
    ops.add_argument(
        "--cors-origin", action="append", default=[], metavar="ORIGIN", help="allow a browser origin (repeat)"
    )
    ops.add_argument("--access-log", choices=["plain", "json", "off"], default="plain", help="default: plain")
    ops.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="worker processes on one port (default: 1); N > 1 needs a shared state store (sqlite, redis)",
    )
    ops.add_argument(
        "--grace",
        type=_positive_float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM/Ctrl-C, time for requests in flight to finish (default: 30)",
    )


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port (1-65535): {text!r}")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        _require("demo", DEMO_PACKAGES)
        from modelmesh.demo import run_demo

        return run_demo(cooldown_s=args.cooldown).exit_code
    if args.command == "serve":
        return _serve(parser, args)
    if args.count is not None and not args.watch:
        parser.error("status: --count needs --watch")
    return _status(parser, args.config, args.capabilities, args)


def _require(command: str, packages: Sequence[str]) -> None:
    """Exit with the one install line that fixes it when an extra's packages are missing."""
    missing = []
    for package in packages:
        try:
            importlib.import_module(package)
        except ImportError:
            missing.append(package)
    if missing:
        raise SystemExit(
            f"modelmesh {command} needs {', '.join(packages)} (missing: {', '.join(missing)}): "
            f'pip install "modelmesh[{command}]"'
        )


def _serve(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if args.config is not None and args.capabilities:
        parser.error("serve: pass either --config or capabilities, not both")
    try:
        from modelmesh.serve.settings import check_exposure, proxy_settings
    except ImportError as exc:
        raise SystemExit(f"modelmesh: {exc}") from None
    try:
        settings = proxy_settings(args)
        check_exposure(args.host, settings, insecure_no_auth=args.insecure_no_auth)
    except ValueError as exc:
        parser.error(f"serve: {exc}")
    try:
        return _run_proxy(parser, args, settings)
    except KeyboardInterrupt:  # before the server took over the signals: nothing to drain
        print("modelmesh serve: interrupted", file=sys.stderr)
        return 130


def _run_proxy(parser: argparse.ArgumentParser, args: argparse.Namespace, settings: ProxySettings) -> int:
    from modelmesh.builder import build_mesh
    from modelmesh.client import build_config
    from modelmesh.errors import ConfigError, NoProvidersError, UnknownNameError
    from modelmesh.serve import serve
    from modelmesh.serve.workers import check_shared_store

    try:
        capabilities = [] if args.config is not None else args.capabilities or [DEFAULT_CAPABILITY]
        config = build_config(capabilities, config=args.config)
        check_shared_store(config, args.workers)
        mesh = build_mesh(config)
    except (NoProvidersError, RuntimeError) as exc:
        print(f"modelmesh serve: {exc}", file=sys.stderr)
        return 1
    except (ConfigError, UnknownNameError, ValueError, OSError) as exc:
        parser.error(f"serve: {exc}")
    auth = f"on, {len(settings.api_keys)} key(s)" if settings.api_keys else "off"  # never the keys
    url = f"http://{args.host}:{args.port}/v1"
    print(
        f"modelmesh serve: pools {', '.join(sorted(mesh.pools))} on {url} (proxy auth {auth})",
        file=sys.stderr,
    )
    if args.workers > 1:
        return _run_workers(args, settings, mesh, tuple(capabilities))
    try:
        serve(mesh, host=args.host, port=args.port, settings=settings, insecure_no_auth=args.insecure_no_auth)
    finally:
        mesh.close()
    return 0


def _run_workers(
    args: argparse.Namespace, settings: ProxySettings, mesh: ModelMesh, capabilities: tuple[str, ...]
) -> int:
    """The mesh above only proved the config builds; each worker builds its own from the same source."""
    from modelmesh.serve.runner import serve_workers
    from modelmesh.serve.workers import MeshSource

    mesh.close()
    print(f"modelmesh serve: {args.workers} workers", file=sys.stderr)
    source = MeshSource(args.config, capabilities)
    try:
        serve_workers(
            source,
            args.workers,
            host=args.host,
            port=args.port,
            settings=settings,
            insecure_no_auth=args.insecure_no_auth,
        )
    except OSError as exc:  # the port is taken, or the host is not an address of this machine
        print(f"modelmesh serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    except RuntimeError as exc:
        print(f"modelmesh serve: {exc}", file=sys.stderr)
        return 1
    return 0


def _status(
    parser: argparse.ArgumentParser, config: str | None, capabilities: list[str], args: argparse.Namespace
) -> int:
    from modelmesh.errors import ConfigError, NoProvidersError, UnknownNameError

    if config is not None and capabilities:
        parser.error("status: pass either --config or capabilities, not both")
    try:
        if config is not None:
            client = modelmesh.create(config=config)
        else:
            client = modelmesh.create(*(capabilities or [DEFAULT_CAPABILITY]))
    except (NoProvidersError, RuntimeError) as exc:
        print(f"modelmesh status: {exc}", file=sys.stderr)
        return 1
    except (ConfigError, UnknownNameError, ValueError, OSError) as exc:
        parser.error(f"status: {exc}")
    from modelmesh.watch import show_status, watch_status

    try:
        if args.watch:
            watch_status(client, interval_s=args.interval, count=args.count)
        else:
            show_status(client)
    except KeyboardInterrupt:  # Ctrl-C is how --watch ends
        pass
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
