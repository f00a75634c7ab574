"""The async HTTP client to providers (ADR 0004): ``pool`` (httpx2's transport over an O(1) connection
pool), ``sockets`` (connections on asyncio protocols), ``http1`` (HTTP/1.1 answers parsed by httptools,
when it is installed). Below the engine: it knows nothing of routing.
"""
