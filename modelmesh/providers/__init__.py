"""Where providers come from: the presets and default model catalogue (``catalog``), detection from the
environment (``detect``) and model discovery from an OpenAI-style model list (``discovery``)."""
