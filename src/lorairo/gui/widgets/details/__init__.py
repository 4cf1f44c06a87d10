"""The details panel: preview, file info, tag / caption / rating / score editing, batch edits, undo."""

from __future__ import annotations

from lorairo.gui.widgets.details.panel import DetailsPanel

__all__ = ["DetailsPanel"]
