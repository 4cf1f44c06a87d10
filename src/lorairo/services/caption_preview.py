"""The caption line(s) export would write for one image, and the order its tags are written in.

Both come from the export's own code (`load_selection` + `compose`, and `select_tags`), never a copy of it,
so the details panel shows exactly what `lorairo export` writes with the current `[export]` settings.
Qt-free; `caption_preview` reads the database (call it on a worker), `export_tag_order` is pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lorairo.exceptions import ExportError
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.edit_service import TagInfo
from lorairo.services.export.compose import compose, select_tags
from lorairo.services.export.data import ExportItem, TagEntry, load_selection
from lorairo.services.export.options import ExportOptions
from lorairo.services.export_service import ExportService
from lorairo.services.project_service import Project


@dataclass(frozen=True)
class CaptionPreview:
    """What export writes for one image: its lines, or why nothing (excluded, no tags, bad settings)."""

    lines: tuple[str, ...]
    note: str = ""


def export_options(config: ConfigurationService, project: Project) -> ExportOptions:
    """The options an export started now would use (the config's `[export]` section)."""
    return ExportService(config, project).default_options()


def caption_preview(project: Project, options: ExportOptions, image_id: int) -> CaptionPreview:
    """Compose the image's caption with the export's own loader and composer (worker side)."""
    try:
        validated = options.validated()
    except ExportError as exc:
        return CaptionPreview((), f"Export settings are invalid: {exc}")
    selection = load_selection(project.db, project.root, [image_id])
    if not selection.items:
        return CaptionPreview((), "Excluded from export: no caption is written for this image.")
    composed = compose(selection.items[0], validated)
    if composed.is_empty:
        return CaptionPreview((), "Nothing to write: export skips this image (no tags or caption).")
    return CaptionPreview(composed.lines)


def export_tag_order(tags: Sequence[TagInfo], rejected: Sequence[TagInfo], options: ExportOptions) -> list[str]:
    """The image's active tags in the order export writes them (its category order, then the user's order),
    with every category and every model tag kept, so each chip has its place. Tags export would not
    select at all come last, in their given order."""
    entries = [TagEntry(t.tag, t.category, t.source, t.confidence, False, t.tag_id, t.position) for t in tags] + [
        TagEntry(t.tag, t.category, t.source, t.confidence, True, t.tag_id, t.position) for t in rejected
    ]
    item = ExportItem(0, Path(), "", 0, 0, "", False, 1, tags=tuple(entries))
    everything = options.with_changes(categories=None, include_model_tags=True, min_confidence=0.0)
    ordered = list(dict.fromkeys(entry.tag for entry in select_tags(item, everything)))
    placed = set(ordered)
    return ordered + [t.tag for t in tags if t.tag not in placed]
