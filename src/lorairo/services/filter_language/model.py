"""The filter model: `ImageFilter`, its vocabulary (keys, flags, ratings, quality checks), the help text and the
errors. Everything here is data; parsing is parser.py, the text form text_form.py (package docstring: the language)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from lorairo.exceptions import LoRAIroException

# Content ratings as the models store them: WD taggers give one of the first four, open-nsfw sfw / nsfw.
WD_RATINGS = ("general", "sensitive", "questionable", "explicit")
NSFW_RATINGS = ("sfw", "nsfw")
RATINGS = WD_RATINGS + NSFW_RATINGS

# Named aspect ratios (width / height): portrait < 0.95 <= square <= 1.05 < landscape (no overlap).
SQUARE_MIN, SQUARE_MAX = 0.95, 1.05
ASPECTS = {"square": (SQUARE_MIN, SQUARE_MAX), "portrait": (None, SQUARE_MIN), "landscape": (SQUARE_MAX, None)}

# Quality checks without a model (`quality:blurry`, `-quality:dark`); thresholds: lorairo.services.quality_rules.
QUALITY_CHECKS = (
    "blurry",
    "dark",
    "bright",
    "low-info",
    "greyscale",
    "low-jpeg",
    "letterbox",
    "extreme-aspect",
    "needs-upscale",
)

FILTER_HELP = """\
Filter syntax (docs/filters.md): terms separated by commas or spaces, all must hold.
  long hair, cat|dog, -blurry        tags: words side by side are ONE tag; a|b any of; -x without
  tag:"long hair"  "long hair"       quoted / tag: (also for tags that look like keys: tag:failed)
  hair*  *hair                       * is a wildcard; case, _ and spaces do not matter (Green_Eyes)
  caption:"red dress"  name:IMG_     caption / file name contains (ASCII case-insensitive)
  score>=6  score<8.5  score:3-5     a score in range (any; score_name:aesthetic picks one)
  rating:general|sensitive           WD: general sensitive questionable explicit; open-nsfw: sfw nsfw
  -rating:explicit                   not rated explicit (a manual rating wins over the models')
  width>=512 height<=4096 res>=1024  pixel size; res = the shorter side (also res<1024, min_side<1024)
  quality:blurry  -quality:dark      checks: blurry dark bright low-info greyscale low-jpeg letterbox
                                     extreme-aspect needs-upscale (thresholds: [quality] in the settings)
  aspect>1.5  aspect:square          aspect ratio w/h, or aspect:square|portrait|landscape
  imported>=2024-05-01               import date (also imported<=..., imported:2024-05-01)
  untagged  uncaptioned  failed      also duplicates, near-duplicates, excluded; -untagged = tagged
  similar:"red dress on a beach"     the 100 images most like a text, best first (needs lorairo embed)
  similar:#123  top:20  similar>=0.3 most like image 123; keep 20; or all above a cosine; similar_model:M"""

KEYS = (
    *("tag", "caption", "name", "score_name", "rating", "quality"),
    *("aspect", "score", "width", "height", "res", "min_side", "imported"),
    *("similar", "similar_model", "top"),
)
_TEXT_KEYS = ("caption", "name", "score_name")
_COMPARABLE = ("score", "width", "height", "res", "min_side", "aspect", "imported", "similar")
#: How many images a `similar:` term keeps when neither `top:N` nor `similar>=x` says (the grid, export and
#: annotate all get the same number; a threshold alone keeps every candidate above it).
DEFAULT_SIMILAR_TOP = 100

# flag word -> ImageFilter field (True = must be so; a leading "-" asks for False)
FLAGS = {
    "untagged": "untagged",
    "uncaptioned": "uncaptioned",
    "duplicates": "duplicates",
    "duplicate": "duplicates",
    "near-duplicates": "near_duplicates",
    "near-duplicate": "near_duplicates",
    "failed": "has_failures",
    "has:failures": "has_failures",
    "excluded": "excluded",
}
FLAG_FIELDS = ("untagged", "uncaptioned", "duplicates", "near_duplicates", "has_failures", "excluded")
_FLAG_WORD = {field_name: word for word, field_name in reversed(list(FLAGS.items()))}  # canonical word per field

_KEY_RE = re.compile(r"([A-Za-z][A-Za-z_]*):")
_COMPARE_RE = re.compile(r"([A-Za-z][A-Za-z_]*)(>=|<=|>|<|=)")
_QUOTES = "\"'"


class FilterSyntaxError(LoRAIroException):
    """A filter text that cannot be parsed. `column` is 1-based; the message names the term and the column."""

    def __init__(self, message: str, *, column: int | None = None, term: str = "") -> None:
        self.column = column
        self.term = term
        where = f"at column {column}" if column is not None else ""
        if term:
            where += f" ({term!r})" if where else f"{term!r}"
        super().__init__(f"filter error {where}: {message}" if where else f"filter error: {message}")


class IdListError(LoRAIroException):
    """An `--ids` value that is not a list of image IDs / ranges."""


def normalize_query_tag(tag: str) -> str:
    """A tag as written in filters and shown: `Long_Hair` -> `long hair`, `\\(` unescaped, kaomoji kept."""
    from genai_tag_db_tools.normalize import normalize_tag

    # split/join again: an underscore at either end becomes a space only after the library collapsed whitespace
    return " ".join(str(normalize_tag(tag, lowercase=True)).split())


def tag_match_key(tag: str) -> str:
    """The key a tag is matched by (the `tags.tag_key` column): `Green Eyes` / `green_eyes` -> `green_eyes`.

    The same key genai-tag-db-tools (autocomplete, the tag database) looks tags up by."""
    from genai_tag_db_tools.normalize import tag_key

    return str(tag_key(tag))


@dataclass(frozen=True)
class SimilarTo:
    """A `similar:` term: images ranked by likeness to a text (`similar:"red dress"`, through the model's text
    tower) or to an image (`similar:#123`), by cosine of the project's stored embeddings, best first.

    The ranking is not SQL: ImageQueryService runs every other term as SQL (the candidates) and ranks those
    (docs/filters.md, "Similar images and text search")."""

    text: str = ""
    image_id: int | None = None
    model: str = ""  # similar_model:NAME; "" = the project's only embedding model, or the default one
    top: int | None = None  # top:N
    min_similarity: float | None = None  # similar>=x (cosine, -1..1)

    @property
    def limit(self) -> int | None:
        """At most this many images: top:N; else DEFAULT_SIMILAR_TOP, unless a threshold alone decides (None)."""
        if self.top is not None:
            return self.top
        return None if self.min_similarity is not None else DEFAULT_SIMILAR_TOP


@dataclass(frozen=True)
class ImageFilter:
    """Which images to show. Empty/None fields do not restrict. Immutable: build a new one with `replace`.

    Tags are kept in their normalised display form (`long hair`); the SQL matches them by key. Flags are
    three-valued: None = either, True = only such images, False = only the others (`-untagged`)."""

    tags_all: tuple[str, ...] = ()  # every one must be present
    tags_any: tuple[tuple[str, ...], ...] = ()  # each group: at least one present
    tags_none: tuple[str, ...] = ()  # none may be present
    caption_text: str = ""
    name_text: str = ""
    score_min: float | None = None
    score_max: float | None = None
    score_min_exclusive: bool = False  # score>6 rather than score>=6
    score_max_exclusive: bool = False
    score_name: str = ""
    ratings: tuple[str, ...] = ()  # the effective rating is one of these
    ratings_none: tuple[str, ...] = ()  # ... and none of these
    min_width: int | None = None
    max_width: int | None = None
    min_height: int | None = None
    max_height: int | None = None
    min_side: int | None = None
    max_side: int | None = None  # the shorter side at most this (res<1024 = max_side 1023)
    aspect_min: float | None = None
    aspect_max: float | None = None
    aspect_min_exclusive: bool = False
    aspect_max_exclusive: bool = False
    imported_from: date | None = None
    imported_to: date | None = None  # inclusive
    untagged: bool | None = None
    uncaptioned: bool | None = None
    duplicates: bool | None = None
    near_duplicates: bool | None = None
    has_failures: bool | None = None
    excluded: bool | None = None
    # (check, flagged?) sorted by check: quality:blurry = ("blurry", True), -quality:dark = ("dark", False)
    quality: tuple[tuple[str, bool], ...] = ()
    similar: SimilarTo | None = None  # ranks the images the other terms select (not part of the SQL)

    def is_empty(self) -> bool:
        return self == ImageFilter()

    def with_changes(self, **changes: Any) -> ImageFilter:
        return replace(self, **changes)


def named_aspect(name: str) -> dict[str, Any]:
    """ImageFilter fields of `aspect:square|portrait|landscape`."""
    low, high = ASPECTS[name]
    return {
        "aspect_min": low,
        "aspect_max": high,
        "aspect_min_exclusive": name == "landscape",
        "aspect_max_exclusive": name == "portrait",
    }


def aspect_name(f: ImageFilter) -> str:
    """The name of the filter's aspect range when it is a named one, else ''."""
    current = {k: getattr(f, k) for k in ("aspect_min", "aspect_max", "aspect_min_exclusive", "aspect_max_exclusive")}
    return next((name for name in ASPECTS if named_aspect(name) == current), "")
