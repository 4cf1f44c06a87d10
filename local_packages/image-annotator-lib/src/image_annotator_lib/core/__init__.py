"""Core contract shared by every back-end: result types, model specs, the annotator base class."""
