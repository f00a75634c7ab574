"""Routing state (model health, cooldowns, cursors, sessions) behind one small store interface."""

from modelmesh.state.base import ModelState, PoolState, ProviderState, StateStore

__all__ = ["ModelState", "PoolState", "ProviderState", "StateStore"]
