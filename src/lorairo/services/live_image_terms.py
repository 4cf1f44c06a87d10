"""A filter's score / rating / size / aspect / exclusion terms evaluated in numpy over per-image columns, with
exactly the semantics of their SQL (services/filter_sql.py build_query), for the in-memory image index
(services/live_image_index.py `LiveImageIndex.term_mask`).

At 1M images a filter mixing a tag with these terms ran the SQL plan: one tag term drives and 200k+ images are
probed for their scores and ratings (250-1000 ms, docs/benchmarks.md "Scale"). Over columns held in memory each
term is one vectorised comparison (a few milliseconds), combined with the tag index's masks by
ImageQueryService. What SQL does, reproduced here term by term:

  * `score>=x`, `score<y`, `score_name:n`: some ONE `quality_scores` row of the image has the name (when given)
    and a value within every bound (`>` / `<` when exclusive); no bound, no condition (a lone score_name is
    ignored, as in SQL). Values are compared as float64, SQLite's REAL; rows on any scale count.
  * `rating:a|b` / `-rating:a|b`: the manual rating when the image has one (a manual rating outside the names
    matches nothing), else any of its model ratings (every `ratings` row, not only the newest). The names must
    be the language's (filter_language.RATINGS): a column keeps one code per known name.
  * `width` / `height` / `res` (the shorter side): integer comparisons; `aspect`: `CAST(width AS REAL) / height`
    in float64, NULL (no match) where the height is 0; `excluded` / `-excluded`: `excluded = 1` or not.

A column's data is trusted only where SQL would compare it the same way: integer sizes, exclusion 0 / 1, REAL
scores (`ImageColumns.exact`); otherwise the caller runs SQL. Qt-free.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from lorairo.services.filter_language import RATINGS, ImageFilter

if TYPE_CHECKING:
    import numpy as np

#: The ImageFilter fields answered by the image columns (besides the tag terms, answered by the tag index).
IMAGE_TERM_FIELDS = frozenset(
    {
        *("score_min", "score_max", "score_min_exclusive", "score_max_exclusive", "score_name"),
        *("ratings", "ratings_none", "min_width", "max_width", "min_height", "max_height", "min_side", "max_side"),
        *("aspect_min", "aspect_max", "aspect_min_exclusive", "aspect_max_exclusive", "excluded"),
    }
)
_TAG_FIELDS = frozenset({"tags_all", "tags_any", "tags_none"})
_DEFAULT = ImageFilter()

#: `ImageColumns.manual`: no manual rating; a manual rating outside RATINGS (wins, matches no term).
NO_MANUAL = -1
OTHER_MANUAL = len(RATINGS)


#: The CASE turning a rating column into its code (RATINGS' index; `other` outside them, `null` for NULL).
def rating_code_sql(column: str, other: int, null: int) -> str:
    whens = "".join(f" WHEN '{name}' THEN {k}" for k, name in enumerate(RATINGS))  # fixed words: safe to inline
    return f"CASE WHEN {column} IS NULL THEN {null} ELSE CASE {column}{whens} ELSE {other} END END"


def image_terms(f: ImageFilter) -> bool:
    """The filter has at least one term the image columns answer and nothing but those and tag terms (no
    caption, name, import date, quality check, other flag or `similar:`)."""
    changed = {field.name for field in fields(ImageFilter) if getattr(f, field.name) != getattr(_DEFAULT, field.name)}
    return bool(changed & IMAGE_TERM_FIELDS) and changed <= IMAGE_TERM_FIELDS | _TAG_FIELDS


@dataclass(frozen=True)
class ImageColumns:
    """Per-slot figures of some images (the index: slot = image id; the overlay: slot = position in its list),
    and their score rows."""

    present: np.ndarray  # bool: an image has this slot
    width: np.ndarray  # int32
    height: np.ndarray  # int32
    excluded: np.ndarray  # bool: excluded = 1
    manual: np.ndarray  # int8: RATINGS index of the manual rating, NO_MANUAL or OTHER_MANUAL
    model_ratings: np.ndarray  # uint8: bit k set when some `ratings` row of the image has the label RATINGS[k]
    score_slot: np.ndarray  # int32: the slot of each quality_scores row
    score_name: np.ndarray  # int32: index into score_names of each row
    score_value: np.ndarray  # float64: each row's value
    score_names: tuple[str, ...]
    exact: bool  # every figure is as SQL compares it (see the module doc)


def term_mask(columns: ImageColumns, f: ImageFilter) -> np.ndarray | None:
    """Per slot, whether the image there meets every image term of `f` (its tag terms are not looked at);
    None when SQL must answer (inexact columns, or a rating name outside RATINGS)."""
    import numpy as np

    if not columns.exact or any(name not in RATINGS for name in (*f.ratings, *f.ratings_none)):
        return None
    mask = columns.present.copy()
    if f.score_min is not None or f.score_max is not None:
        mask &= _scored(columns, f)
    if f.ratings:
        mask &= _rated(columns, f.ratings)
    if f.ratings_none:
        mask &= ~_rated(columns, f.ratings_none)
    for values, low, high in ((columns.width, f.min_width, f.max_width), (columns.height, f.min_height, f.max_height)):
        if low is not None:
            mask &= values >= low
        if high is not None:
            mask &= values <= high
    if f.min_side is not None or f.max_side is not None:
        side = np.minimum(columns.width, columns.height)
        if f.min_side is not None:
            mask &= side >= f.min_side
        if f.max_side is not None:
            mask &= side <= f.max_side
    if f.aspect_min is not None or f.aspect_max is not None:
        mask &= columns.height != 0  # SQLite's division by zero is NULL: no comparison holds
        with np.errstate(divide="ignore", invalid="ignore"):
            aspect = columns.width.astype(np.float64) / columns.height
        if f.aspect_min is not None:
            mask &= aspect > f.aspect_min if f.aspect_min_exclusive else aspect >= f.aspect_min
        if f.aspect_max is not None:
            mask &= aspect < f.aspect_max if f.aspect_max_exclusive else aspect <= f.aspect_max
    if f.excluded is not None:
        mask &= columns.excluded if f.excluded else ~columns.excluded
    return mask


def _scored(columns: ImageColumns, f: ImageFilter) -> np.ndarray:
    """Slots with one score row meeting the name and both bounds (EXISTS over the image's rows)."""
    import numpy as np

    rows = np.ones(columns.score_value.size, dtype=bool)
    if f.score_name:
        code = columns.score_names.index(f.score_name) if f.score_name in columns.score_names else -1
        rows &= columns.score_name == code
    values = columns.score_value
    if f.score_min is not None:
        rows &= values > f.score_min if f.score_min_exclusive else values >= f.score_min
    if f.score_max is not None:
        rows &= values < f.score_max if f.score_max_exclusive else values <= f.score_max
    slots = columns.score_slot[rows]
    # A row of an image id past every image's (written with foreign keys off) matches no image.
    scored = np.zeros(max(columns.present.size, int(slots.max()) + 1 if slots.size else 0), dtype=bool)
    scored[slots] = True
    return scored[: columns.present.size]


def _rated(columns: ImageColumns, names: tuple[str, ...]) -> np.ndarray:
    """Slots whose effective rating is one of `names` (all in RATINGS): the manual one when set, else any model's."""
    import numpy as np

    codes = [RATINGS.index(name) for name in names]
    manual_hits = np.zeros(OTHER_MANUAL + 2, dtype=bool)  # indexed by code + 1: NO_MANUAL .. OTHER_MANUAL
    manual_hits[[code + 1 for code in codes]] = True
    bits = np.uint8(sum(1 << code for code in codes))
    by_model = (columns.model_ratings & bits) != 0
    return np.where(columns.manual == NO_MANUAL, by_model, manual_hits[columns.manual.astype(np.int64) + 1])
