"""Defaults of the embedding commands, importable without numpy or the database (CLI start-up time)."""

from __future__ import annotations

DEFAULT_MODEL = "clip-vit-b32-embed"
DEFAULT_DUPLICATE_THRESHOLD = 0.96  # cosine; resized / re-encoded copies score ~0.99, distinct shots < 0.93
