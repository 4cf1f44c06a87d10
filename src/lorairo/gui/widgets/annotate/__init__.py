"""The Annotate panel: choose models, run them over images, watch progress, manage Batch API jobs."""

from lorairo.gui.widgets.annotate.panel import AnnotatePanel

__all__ = ["AnnotatePanel"]
