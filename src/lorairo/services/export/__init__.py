"""Training-dataset export: options, sd-scripts bucketing, captions, writers and the Hugging Face push.

Kept import-light: worker processes import :mod:`lorairo.services.export.imaging` through this package.
"""
