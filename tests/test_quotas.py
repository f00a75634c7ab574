"""Quota windows, counters and configuration (pure arithmetic; no server)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from modelmesh.builder import build_mesh
from modelmesh.config import MeshConfig
from modelmesh.errors import ConfigError
from modelmesh.quotas import Limit, blocked

PACIFIC = ZoneInfo("America/Los_Angeles")


def at(*args: int, tz=UTC) -> float:  # type: ignore[no-untyped-def]
    return datetime(*args, tzinfo=tz).timestamp()


def test_a_utc_day_resets_at_utc_midnight() -> None:
    limit = Limit("requests", 2, "day", "utc-midnight")
    counters: dict = {}
    now = at(2026, 11, 25, 22, 30)
    limit.add(counters, now, 1)
    limit.add(counters, now + 60, 1)
    verdict = blocked([limit], counters, now + 120)
    assert verdict is not None and verdict.back_at == at(2026, 11, 26)
    assert "2 requests per day (resets at UTC midnight) used" in verdict.reason
    assert blocked([limit], counters, at(2026, 11, 26, 0, 0, 1)) is None


def test_a_us_pacific_day_resets_at_pacific_midnight_across_dst() -> None:
    limit = Limit("tokens", 100, "day", "us-pacific-midnight")
    counters: dict = {}
    now = at(2026, 11, 1, 12, 0, tz=PACIFIC)  # the day US clocks fall back: 25 hours long
    limit.add(counters, now, 150)
    verdict = blocked([limit], counters, now)
    assert verdict is not None and verdict.back_at == at(2026, 11, 2, tz=PACIFIC)


def test_a_month_resets_on_the_first() -> None:
    limit = Limit("cost_usd", 5, "month", "utc-midnight")
    counters: dict = {}
    limit.add(counters, at(2026, 2, 10), 5.5)
    verdict = blocked([limit], counters, at(2026, 2, 20))
    assert verdict is not None and verdict.back_at == at(2026, 3, 1)
    assert "$5 per month" in verdict.reason


def test_a_rolling_window_frees_capacity_as_old_use_ages_out() -> None:
    limit = Limit("requests", 2, "day", "rolling")
    counters: dict = {}
    start = at(2026, 11, 25, 8)
    limit.add(counters, start, 1)
    limit.add(counters, start + 3 * 3600, 1)
    verdict = blocked([limit], counters, start + 4 * 3600)
    assert verdict is not None
    assert start + 86400 - 1800 <= verdict.back_at <= start + 86400  # the first use ages out
    assert blocked([limit], counters, start + 86400 + 60) is None
    assert limit.used(counters, start + 86400 + 60) == 1


def test_counters_drop_old_buckets() -> None:
    limit = Limit("requests", 1000, "minute", "rolling")
    counters: dict = {}
    for second in range(0, 600, 5):
        limit.add(counters, 1_000_000 + second, 1)
    assert len(counters[limit.key]) <= 61


def _config(**provider: object) -> dict:
    return {
        "providers": {
            "acme": {"base_url": "http://127.0.0.1:9/v1", "api_key": "k", "models": ["m1"], **provider}
        },
        "pools": {"chat": {"capability": "chat-completion"}},
    }


def test_quota_config_is_validated_with_its_path() -> None:
    with pytest.raises(ConfigError, match=r"providers\.acme\.quota\.limits\[0\]: give exactly one of"):
        MeshConfig.load(_config(quota={"limits": [{"requests": 5, "tokens": 9, "per": "day"}]}))
    with pytest.raises(ConfigError, match=r"providers\.acme\.quota\.limits\[0\]\.per: must be one of"):
        MeshConfig.load(_config(quota={"limits": [{"requests": 5, "per": "week"}]}))
    with pytest.raises(ConfigError, match=r"providers\.acme\.quota\.reset: must be one of"):
        MeshConfig.load(_config(quota={"reset": "tokyo", "limits": []}))


def test_a_per_model_quota_must_name_a_model_of_the_provider() -> None:
    config = MeshConfig.load(_config(quota={"models": {"m2": [{"requests": 5, "per": "day"}]}}))
    with pytest.raises(
        ConfigError, match=r"providers\.acme\.quota\.models\.m2: provider 'acme' serves no model"
    ):
        build_mesh(config)


def test_limits_reach_the_mesh_with_the_provider_calendar() -> None:
    quota = {
        "reset": "us-pacific-midnight",
        "limits": [{"requests": 1000, "per": "day"}],
        "models": {"m1": [{"tokens": 5000, "per": "minute", "reset": "rolling"}]},
    }
    config = _config(quota=quota)
    config["pools"]["chat"]["quota"] = [{"cost_usd": 10, "per": "month"}]
    mesh = build_mesh(MeshConfig.load(config))
    assert mesh.quotas.providers["acme"] == (Limit("requests", 1000, "day", "us-pacific-midnight"),)
    assert mesh.quotas.models["acme.m1"] == (Limit("tokens", 5000, "minute", "rolling"),)
    assert mesh.quotas.pools["chat"] == (Limit("cost_usd", 10, "month", "utc-midnight"),)
    mesh.close()
