"""Observability outputs: one record per routing decision, attempt, deactivation and finished request.

Outputs never see secrets: the routing core redacts provider keys from every error text it emits.
"""
