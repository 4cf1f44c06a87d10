"""Compose the caption lines and metadata text of one image from its database rows and the export options.

Which tags go in: manual and sidecar tags always; model tags at or above ``min_confidence`` (when model tags
are included); a tag the user rejected never (also when another model proposed it again), unless the user
added it by hand; only the chosen categories. Then: trigger words, optional rating / score tags, the tags
(by category when asked), the caption.
"""

from __future__ import annotations

import math
from typing import NamedTuple

from lorairo.database.schema import SOURCE_MANUAL, SOURCE_MODEL, SOURCE_SIDECAR
from lorairo.services.export.captions import (
    TagStyle,
    build_line,
    category_rank,
    clean_caption_text,
    collapse,
    join_unique,
    protect_sentence,
    style_text,
    tag_cleaner,
)
from lorairo.services.export.data import CaptionEntry, ExportItem, TagEntry
from lorairo.services.export.options import ExportOptions

_SOURCE_RANK = {SOURCE_MANUAL: 0, SOURCE_SIDECAR: 1, SOURCE_MODEL: 2}


class ComposedCaption(NamedTuple):
    """What gets written for one image.

    A named tuple of strings rather than a dataclass: an export spools one per image to its staging folder
    and reads it back twice, and pickle builds tuples in C where a slotted dataclass goes through
    ``__setstate__`` in Python (issue 20: that round trip made the bounded-memory export 1.2-1.5x slower).

    Attributes:
        lines: Caption file lines (one, or two variants); empty when there is nothing to write.
        fixed: The leading chunks counted by ``keep_tokens`` (trigger words).
        extras: Rating / score tags placed after the fixed chunks.
        tags: The formatted tags, in caption order.
        caption: The natural-language caption (formatted), or "".
    """

    lines: tuple[str, ...]
    fixed: tuple[str, ...]
    extras: tuple[str, ...]
    tags: tuple[str, ...]
    caption: str
    class_only: bool = False  # nothing else to write: the caption is the class token (sd-scripts' fallback)

    @property
    def is_empty(self) -> bool:
        return not any(line.strip() for line in self.lines)


def tag_style(options: ExportOptions) -> TagStyle:
    return TagStyle(
        underscores_to_spaces=options.underscores_to_spaces,
        escape_parentheses=options.escape_parentheses,
        wildcard=options.wildcard,
        keep_underscores=options.keep_underscores,
    )


def fixed_chunks(options: ExportOptions) -> tuple[str, ...]:
    """Trigger words as written (spelled as typed; only braces doubled in wildcard mode)."""
    style = tag_style(options)
    return tuple(join_unique(style_text(collapse(w), TagStyle(wildcard=style.wildcard)) for w in options.trigger_words))


def keep_tokens(options: ExportOptions) -> int:
    """sd-scripts ``keep_tokens``: the number of comma-separated chunks kept first (0 with the separator)."""
    return 0 if options.use_keep_tokens_separator else len(fixed_chunks(options))


def select_tags(item: ExportItem, options: ExportOptions) -> list[TagEntry]:
    """The tag rows that go into the caption, in caption order (before formatting)."""
    manual_keys = {t.tag for t in item.tags if t.source != SOURCE_MODEL and not t.rejected}
    rejected_keys = {t.tag for t in item.tags if t.rejected} - manual_keys
    chosen: dict[str, TagEntry] = {}
    for entry in item.tags:
        if entry.rejected or entry.tag in rejected_keys:
            continue
        if entry.source == SOURCE_MODEL:
            if not options.include_model_tags:
                continue
            if entry.confidence is not None and entry.confidence < options.min_confidence:
                continue
        if options.categories is not None and (entry.category or "general").lower() not in options.categories:
            continue
        best = chosen.get(entry.tag)
        if best is None or _entry_key(entry) < _entry_key(best):
            chosen[entry.tag] = entry
    entries = sorted(chosen.values(), key=_entry_key)
    if options.order_by_category:
        entries.sort(key=lambda e: category_rank(e.tag, e.category))  # stable: keeps source/confidence order
    return entries


def _entry_key(entry: TagEntry) -> tuple[bool, int, int, float, int]:
    # The user's order first (chips dragged in the details panel), then: manual before sidecar before model;
    # model tags by confidence (highest first); otherwise the order added.
    confidence = entry.confidence if entry.confidence is not None and entry.source == SOURCE_MODEL else 1.0
    placed = entry.position is not None
    return (not placed, entry.position or 0, _SOURCE_RANK.get(entry.source, 3), -confidence, entry.row_id)


def _caption_key(caption: CaptionEntry) -> tuple[int, int]:
    # Manual captions in the user's order (the details panel's list writes them in order, so by ascending id);
    # sidecar and model captions newest first.
    rank = _SOURCE_RANK.get(caption.source, 3)
    return (rank, caption.row_id if caption.source == SOURCE_MANUAL else -caption.row_id)


def pick_caption(item: ExportItem) -> str:
    """The caption text: the first manual caption, else the newest sidecar, else the newest model caption."""
    if not item.captions:
        return ""
    return min(item.captions, key=_caption_key).text


def ordered_captions(item: ExportItem) -> list[str]:
    """Every caption of an image: manual first (in the user's order), then sidecar, then model (newest first
    within each); repeats (after collapsing whitespace) dropped."""
    rows = sorted(item.captions, key=_caption_key)
    return join_unique(collapse(c.text) for c in rows)


def single_line(lines: tuple[str, ...], mode: str) -> str:
    """One caption for a format that holds one: ``first``, ``longest`` or ``join`` (the lines' comma-separated
    chunks in order, repeats such as the trigger word dropped)."""
    if not lines:
        return ""
    if mode == "longest":
        return max(lines, key=len)  # max keeps the first of equally long lines
    if mode == "join":
        return ", ".join(join_unique(chunk.strip() for line in lines for chunk in line.split(",")))
    return lines[0]


def score_tag(item: ExportItem, options: ExportOptions) -> str | None:
    """``score_<n>`` from the aesthetic score on a 1-10 scale, floored and kept within 1..9 (Pony style)."""
    entry = item.score(options.score_name)
    if entry is None:
        return None
    value = entry.on_ten_scale()
    if math.isnan(value):
        return None
    return f"score_{min(9, max(1, math.floor(value)))}"


def rating_tag(item: ExportItem) -> str | None:
    if not item.rating:
        return None
    return "rating_" + "_".join(item.rating.strip().lower().split())


def compose(item: ExportItem, options: ExportOptions) -> ComposedCaption:
    """Build the caption lines of one image."""
    style = tag_style(options)
    fixed = fixed_chunks(options)
    extras: list[str] = []
    if options.include_rating_tag and (tag := rating_tag(item)):
        extras.append(tag)
    if options.include_score_tag and (tag := score_tag(item, options)):
        extras.append(tag)
    extras = [style_text(e, TagStyle(wildcard=style.wildcard)) for e in extras]
    body_tags: list[str] = []
    if options.caption_mode in ("tags", "both"):
        clean = tag_cleaner(style)
        body_tags = join_unique(clean(e.tag) for e in select_tags(item, options))
        body_tags = [t for t in body_tags if t not in fixed and t not in extras]
    caption = ""
    captions: list[str] = []
    if options.caption_mode in ("caption", "both"):
        texts = ordered_captions(item) if options.all_captions else [pick_caption(item)]
        for text in texts:
            cleaned = clean_caption_text(text, style)
            if options.protects_sentences and "," in cleaned:
                cleaned = protect_sentence(cleaned)
            if cleaned:
                captions.append(cleaned)
        captions = join_unique(captions)
        caption = captions[0] if captions else ""

    sep = options.use_keep_tokens_separator
    lines: list[str] = []
    if options.caption_mode == "tags":
        lines.append(build_line(fixed, [*extras, *body_tags], use_keep_tokens_separator=sep))
    elif options.caption_mode == "caption":
        for text in captions or [""]:
            lines.append(build_line(fixed, [*extras, text] if text else extras, use_keep_tokens_separator=sep))
    elif options.caption_variants:
        if body_tags or not caption:
            lines.append(build_line(fixed, [*extras, *body_tags], use_keep_tokens_separator=sep))
        for text in captions:
            lines.append(build_line(fixed, [*extras, text], use_keep_tokens_separator=sep))
    else:
        for text in captions or [""]:
            body = [*extras, *body_tags, *([text] if text else [])]
            lines.append(build_line(fixed, body, use_keep_tokens_separator=sep))
    lines = join_unique(line for line in lines if line.strip())
    class_only = not lines and bool(options.class_tokens)
    if class_only:
        # What sd-scripts itself trains an uncaptioned image of a class folder with; without it the image
        # would be skipped as "empty caption" although the user named its class.
        lines = [style_text(collapse(options.class_tokens), TagStyle(wildcard=style.wildcard))]
    return ComposedCaption(
        lines=tuple(lines),
        fixed=fixed,
        extras=tuple(extras),
        tags=tuple(body_tags),
        caption=caption,
        class_only=class_only,
    )


def metadata_texts(composed: ComposedCaption, options: ExportOptions) -> tuple[str, str]:
    """``(caption, tags)`` for kohya metadata JSON: sd-scripts trains on ``caption + ", " + tags``.

    The caption holds the trigger words (so ``keep_tokens`` still counts them first), the rating / score tags
    and the natural-language caption; tags holds the tags.
    """
    if composed.class_only:
        return composed.lines[0], ""
    head = [*composed.fixed, *composed.extras, *([composed.caption] if composed.caption else [])]
    caption = build_line(
        composed.fixed, head[len(composed.fixed) :], use_keep_tokens_separator=options.use_keep_tokens_separator
    )
    return caption, ", ".join(composed.tags)
