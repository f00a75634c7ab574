"""``ConfigSection``: the base of every section of a ``MeshConfig``.

Owns the rules every section shares: unknown keys fail (typos), defaults are validated, numbers are
finite, and dumps and pickles carry ``${secrets:}`` templates, never resolved values
(``secrets.SecretSafeModel``). It holds no fields: each section's module does.
"""

from __future__ import annotations

from pydantic import ConfigDict

from modelmesh.config.secrets import SecretSafeModel


class ConfigSection(SecretSafeModel):
    # inf and nan pass gt=0 checks yet break every timer and sleep they reach: numbers must be finite.
    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)
