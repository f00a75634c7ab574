"""The proxy's operator settings: keys, limits, exposure of provider details, CORS, logging, shutdown.

Owns the values and their validation (a blank key, a non-loopback bind without a key, a limit that is
not positive: each a ``ValueError`` naming the setting and the fix). It deliberately does not parse
command lines (``modelmesh.cli`` does) and does not act on the values (the app and runner modules do).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass

KEY_ENV = "MODELMESH_PROXY_KEY"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
ACCESS_LOG_FORMATS = ("plain", "json", "off")


@dataclass(frozen=True, slots=True)
class ProxySettings:
    """How the proxy behaves at its edge; every field has a safe default for a loopback bind."""

    api_keys: tuple[str, ...] = ()  # several keys: rotate without downtime
    max_body_bytes: int = 8 * 1024 * 1024
    body_timeout_s: float = 30.0  # the whole request body must arrive within this (slow-loris)
    header_timeout_s: float = 10.0  # the request line and headers must arrive within this
    send_timeout_s: float = 30.0  # a stream whose client reads nothing for this long is cut off
    keep_alive_s: int = 5  # an idle keep-alive connection is closed after this
    max_concurrency: int = 256  # requests relayed at once; the next gets a 503
    max_json_depth: int = 64
    redact_provider_errors: bool | None = None  # None: on for non-loopback binds (see runner)
    pools_only: bool = False
    cors_origins: tuple[str, ...] = ()
    access_log: str = "plain"  # plain | json | off
    grace_s: float = 30.0  # SIGTERM/SIGINT: in-flight requests get this long to finish

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_concurrency", "max_json_depth", "keep_alive_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("body_timeout_s", "header_timeout_s", "send_timeout_s", "grace_s"):
            if not 0 < getattr(self, name) < float("inf"):
                raise ValueError(f"{name} must be a positive number of seconds, got {getattr(self, name)}")
        if self.access_log not in ACCESS_LOG_FORMATS:
            raise ValueError(
                f"access_log must be one of {', '.join(ACCESS_LOG_FORMATS)}: {self.access_log!r}"
            )
        object.__setattr__(self, "api_keys", proxy_keys(self.api_keys))

    def __repr__(self) -> str:  # never the keys themselves
        return f"ProxySettings(api_keys=<{len(self.api_keys)} keys>, pools_only={self.pools_only})"


def proxy_keys(values: Iterable[str]) -> tuple[str, ...]:
    """Stripped keys; a blank one is an error (an empty key would silently mean "no auth")."""
    keys: list[str] = []
    for value in values:
        key = value.strip()
        if not key:
            raise ValueError(
                "a proxy API key is empty or blank: pass a real key (--api-key KEY or "
                f"{KEY_ENV}=KEY; several keys separated by commas), or none to serve without proxy auth"
            )
        if any(ord(c) < 0x21 or ord(c) > 0x7E for c in key):
            raise ValueError(
                "a proxy API key contains spaces, control or non-ASCII characters: use printable ASCII"
            )
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def keys_from_env(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """Keys of ``$MODELMESH_PROXY_KEY`` (comma-separated); unset means none, set but blank is an error."""
    value = (os.environ if environ is None else environ).get(KEY_ENV)
    if value is None:
        return ()
    if not value.strip():
        raise ValueError(
            f"{KEY_ENV} is set but empty: set it to a key, or unset it to serve without proxy auth"
        )
    return proxy_keys(value.split(","))


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def check_exposure(host: str, settings: ProxySettings, *, insecure_no_auth: bool) -> None:
    """Closed by default: a non-loopback bind needs a proxy key, unless the operator says otherwise."""
    if settings.api_keys or insecure_no_auth or is_loopback(host):
        return
    raise ValueError(
        f"refusing to listen on {host} without a proxy API key: anyone who can reach it would spend your "
        f"provider keys. Set {KEY_ENV} (or --api-key), or pass --insecure-no-auth if the network is trusted."
    )


def proxy_settings(args: argparse.Namespace) -> ProxySettings:
    """Settings from ``modelmesh serve``'s arguments; keys from ``--api-key`` or else the environment."""
    keys = proxy_keys(args.api_key) if args.api_key else keys_from_env()
    return ProxySettings(
        api_keys=keys,
        max_body_bytes=int(args.max_body_mb * 1024 * 1024),
        body_timeout_s=args.body_timeout,
        header_timeout_s=args.header_timeout,
        send_timeout_s=args.send_timeout,
        max_concurrency=args.max_concurrency,
        redact_provider_errors=args.redact_provider_errors,
        pools_only=args.pools_only,
        cors_origins=tuple(args.cors_origin),
        access_log=args.access_log,
        grace_s=args.grace,
    )
