"""The HTTP clients to providers (ADR 0004, 0005): ``pool`` (httpx2's transports, sync and async, over
pools with O(1) bookkeeping kept in ``ledger``), ``http1`` (one HTTP/1.1 exchange without I/O, answers
parsed by httptools), ``connections`` (its blocking and awaiting drivers), ``sockets`` (the async
connections' asyncio-protocol streams). Below the engine: it knows nothing of routing.
"""
