"""Command line: `python -m image_annotator_lib <command>`. See `cli.main` for how commands are registered."""
