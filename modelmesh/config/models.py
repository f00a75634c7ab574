"""The ``models`` section of a ``MeshConfig``: one entry per model a config declares or overrides.

Owns the entry's schema (provider, id, capabilities, features, delivery, constraints, pricing, quota)
and the check that a feature name is known. Re-exported by ``modelmesh.config``. It imports nothing
from the provider catalogue, which reads these entries (``catalog.model_spec_from_config``); the
cross-section checks (the provider exists, the id default) live with ``MeshConfig``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from modelmesh.config.reliability import QuotaLimit
from modelmesh.config.section import ConfigSection
from modelmesh.errors import UnknownNameError
from modelmesh.types import FEATURES


def _feature(name: str) -> str:
    if name not in FEATURES:
        raise UnknownNameError("feature", name, FEATURES)
    return name


Feature = Annotated[str, AfterValidator(_feature)]


class ConstraintsConfig(ConfigSection):
    context_window: int | None = Field(default=None, ge=1)
    max_output_tokens: int | None = Field(default=None, ge=1)


class PricingConfig(ConfigSection):
    input_per_1m: float | None = Field(default=None, ge=0)
    output_per_1m: float | None = Field(default=None, ge=0)


class ModelConfig(ConfigSection):
    provider: str
    id: str | None = None  # filled at MeshConfig level: the key minus a leading "provider."
    capabilities: list[str] = []
    features: list[Feature] = []
    delivery: list[Literal["sync", "streaming", "batch"]] = ["sync", "streaming"]
    constraints: ConstraintsConfig = ConstraintsConfig()
    pricing: PricingConfig = PricingConfig()
    quota: list[QuotaLimit] = []  # reset calendar: its provider's quota.reset


__all__ = ["ConstraintsConfig", "Feature", "ModelConfig", "PricingConfig"]
