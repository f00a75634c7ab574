"""The engine: one request's I/O, written once as a flow of commands and run by thin sync and async
drivers (see ``docs/adr/0002-attempt-flow.md``).

- ``commands`` — what the flow asks its driver to do (send, read, sleep, close) and hands back
  (a response head, stream bytes).
- ``boundary`` — the one place where an exception raised during an attempt becomes a ``Failure``.
- ``flow`` — the request flow: attempts, prefetch to first content, relay, break, resume.
- ``exchange`` — the engine's edges: the provider's request out, the SDK's response (or exception)
  back. (The SDK's request is parsed before the engine runs: ``mesh.inbound``.)
- ``streaming`` — ``StreamMonitor``: what a provider stream has delivered (content, finish, usage).
- ``relay`` — what relaying an opened stream decides without I/O (stitching, breaks, billing).
- ``drivers`` — ``MeshTransport`` and ``AsyncMeshTransport``, the httpx2 transports that run the flow.
"""
