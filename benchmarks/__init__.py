"""``make bench`` / ``python -m benchmarks``: ModelMesh's overhead as ratios against baselines measured in the
same run.

Each case times a baseline (the raw ``openai`` SDK talking straight to a server) and a candidate (a
``MeshClient`` routing to the same server) in alternating rounds, so that drift on a busy machine hits
both alike; the verdict uses the median of the per-round ratios. Cases:

- ``sequential``: non-streamed chat completions, one after another (sync clients);
- ``streaming``: streamed chat completions, timed until the whole stream is consumed (sync clients);
- ``concurrent-64``: ``asyncio.gather`` of 64 requests (``AsyncMeshClient`` vs ``AsyncOpenAI``);
- ``import``: ``import modelmesh`` + ``from modelmesh import create`` vs ``import openai``, each in a
  fresh interpreter.

Modules: ``harness`` (rounds, statistics, verdicts), ``cases`` (the timed bodies), ``server`` (the
minimal OpenAI-compatible server, in its own process), ``profiling`` (where the mesh's time goes).
"""
