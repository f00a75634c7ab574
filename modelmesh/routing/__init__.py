"""Pure routing decisions: pools, requirements, selection policies, health, retry and the run machine.

Nothing in this package performs I/O or reads the real clock; the transports drive it.
"""
