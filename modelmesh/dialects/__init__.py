"""Client dialects: the APIs a caller may speak to the mesh besides OpenAI Chat Completions.

Each dialect translates at the edge, in and out, to and from the chat form the engine routes (ADR 0003).
"""
