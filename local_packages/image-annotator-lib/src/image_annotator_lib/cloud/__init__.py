"""Cloud vision models (OpenAI, Anthropic, Google, OpenAI-compatible servers) for image-annotator-lib."""
