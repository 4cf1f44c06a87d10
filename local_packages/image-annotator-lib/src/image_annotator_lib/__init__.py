"""image-annotator-lib: one annotate() over local and cloud vision models."""
