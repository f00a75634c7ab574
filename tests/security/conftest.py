"""The security suite reuses the real ``redis-server`` fixtures of the state tests (Redis contents are
searched for planted keys too)."""

from tests.state.conftest import redis_binary, redis_server

__all__ = ["redis_binary", "redis_server"]
