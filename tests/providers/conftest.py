"""Provider tests reuse the endpoint fixtures: one fake per preset, detected through its env vars."""

from tests.endpoints.conftest import client_for, endpoint_fakes, mode, providers

__all__ = ["client_for", "endpoint_fakes", "mode", "providers"]
