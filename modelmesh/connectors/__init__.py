"""Wire dialects: pure translation between the OpenAI shape and a provider's own; error classification."""
