"""Combining two filters (AND): the filter field's text with the filter bar's other widgets."""

from __future__ import annotations

from typing import Any

from lorairo.services.filter_language.model import FLAG_FIELDS, FilterSyntaxError, ImageFilter

_MERGE_LABELS = {
    "caption_text": "caption:",
    "name_text": "name:",
    "score_name": "score_name:",
    "ratings": "rating:",
    "ratings_none": "-rating:",
    "has_failures": "failed",
    "near_duplicates": "near-duplicates",
}


def merge_filters(a: ImageFilter, b: ImageFilter) -> ImageFilter:
    """Both filters at once (AND): the filter field's text combined with the filter bar's other widgets.

    Raises FilterSyntaxError where the flat model cannot say "both" (two different captions, two rating
    sets, `untagged` and `-untagged`)."""
    out: dict[str, Any] = {
        "tags_all": tuple(dict.fromkeys(a.tags_all + b.tags_all)),
        "tags_any": tuple(dict.fromkeys(a.tags_any + b.tags_any)),
        "tags_none": tuple(dict.fromkeys(a.tags_none + b.tags_none)),
    }
    checks = dict(a.quality)
    for check, flagged in b.quality:
        if checks.get(check, flagged) != flagged:
            raise FilterSyntaxError(f"quality:{check} and -quality:{check} are both given (text and filter bar)")
        checks[check] = flagged
    out["quality"] = tuple(sorted(checks.items()))
    if a.similar is not None and b.similar is not None and a.similar != b.similar:
        raise FilterSyntaxError("similar: is given twice, in the text and by the filter bar")
    out["similar"] = a.similar or b.similar
    for name in ("caption_text", "name_text", "score_name", "ratings", "ratings_none", *FLAG_FIELDS):
        va, vb = getattr(a, name), getattr(b, name)
        empty = None if name in FLAG_FIELDS else type(va)()
        if va != empty and vb != empty and va != vb:
            label = _MERGE_LABELS.get(name, name)
            raise FilterSyntaxError(f"{label} is given twice, in the text and by the filter bar")
        out[name] = va if va != empty else vb
    for low, high, excl in (
        ("score_min", "score_max", "score"),
        ("aspect_min", "aspect_max", "aspect"),
        ("min_width", "max_width", None),
        ("min_height", "max_height", None),
        ("min_side", "max_side", None),
        ("imported_from", "imported_to", None),
    ):
        for side, pick, flag in ((low, max, f"{excl}_min_exclusive"), (high, min, f"{excl}_max_exclusive")):
            if side is None:
                continue
            values = [(getattr(x, side), getattr(x, flag) if excl else False) for x in (a, b)]
            values = [v for v in values if v[0] is not None]
            if not values:
                continue
            best = pick(v[0] for v in values)
            out[side] = best
            if excl:
                out[flag] = any(e for v, e in values if v == best)
    return ImageFilter(**out)
