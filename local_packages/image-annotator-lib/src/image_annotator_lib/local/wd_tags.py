"""WD tagger label files (`selected_tags.csv`) and thresholding (per category, MCut, max tags)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from image_annotator_lib.core.errors import AnnotatorLoadError
from image_annotator_lib.core.types import RatingPrediction, TagPrediction

CATEGORY_NAMES = {0: "general", 1: "artist", 3: "copyright", 4: "character", 5: "meta", 9: "rating"}
RATING = 9


@dataclass(frozen=True)
class TagTable:
    """Row i of the CSV names output i of the model."""

    names: tuple[str, ...]
    categories: np.ndarray  # int per row

    def __len__(self) -> int:
        return len(self.names)

    @property
    def rating_rows(self) -> np.ndarray:
        return np.flatnonzero(self.categories == RATING)


def read_tag_csv(path: Path) -> TagTable:
    """Read `selected_tags.csv` (header tag_id,name,category,count; row order = output index).

    Raises:
        AnnotatorLoadError: missing columns, a non-integer category, or no rows (message names file and row).
    """
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            fields = reader.fieldnames or []
            for column in ("name", "category"):
                if column not in fields:
                    raise AnnotatorLoadError(f"{path.name}: missing column {column!r} (header: {','.join(fields)})")
            names: list[str] = []
            categories: list[int] = []
            for line, row in enumerate(reader, start=2):
                try:
                    categories.append(int(row["category"]))
                except (TypeError, ValueError):
                    raise AnnotatorLoadError(
                        f"{path.name} line {line}: category {row['category']!r} is not an integer"
                    ) from None
                names.append(row["name"] or "")
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise AnnotatorLoadError(f"cannot read {path}: {exc}") from exc
    if not names:
        raise AnnotatorLoadError(f"{path.name} has no tag rows")
    return TagTable(tuple(names), np.asarray(categories, dtype=np.int64))


def mcut_threshold(probs: np.ndarray) -> float:
    """Maximum Cut: sort descending, t = argmax(p_i - p_{i+1}), threshold (p_t + p_{t+1}) / 2."""
    ordered = np.sort(probs)[::-1]
    if len(ordered) < 2:
        return float(ordered[0]) if len(ordered) else 1.0
    t = int(np.argmax(ordered[:-1] - ordered[1:]))
    return float((ordered[t] + ordered[t + 1]) / 2)


@dataclass(frozen=True)
class Thresholds:
    """Selection settings (spec options of a WD model)."""

    general: float = 0.35
    character: float = 0.85
    per_category: tuple[tuple[str, float], ...] = ()  # e.g. (("copyright", 0.5),); default: general
    use_mcut: bool = False
    character_mcut_floor: float = 0.15
    max_tags: int | None = None
    keep_floor: float = 0.1

    @classmethod
    def from_options(cls, options: dict[str, object]) -> Thresholds:
        def number(key: str, default: float) -> float:
            value = options.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise AnnotatorLoadError(f"option {key!r} must be a number between 0 and 1, got {value!r}")
            return float(value)

        extra = tuple(
            (name, number(f"{name}_threshold", number("general_threshold", 0.35)))
            for name in ("artist", "copyright", "meta")
            if f"{name}_threshold" in options
        )
        max_tags = options.get("max_tags")
        if max_tags is not None and (isinstance(max_tags, bool) or not isinstance(max_tags, int) or max_tags < 1):
            raise AnnotatorLoadError(f"option 'max_tags' must be a positive integer, got {max_tags!r}")
        return cls(
            general=number("general_threshold", 0.35),
            character=number("character_threshold", 0.85),
            per_category=extra,
            use_mcut=bool(options.get("use_mcut", False)),
            character_mcut_floor=number("character_mcut_floor", 0.15),
            max_tags=max_tags,
            keep_floor=number("keep_floor", 0.1),
        )


def select_tags(
    table: TagTable, probs: np.ndarray, thresholds: Thresholds
) -> tuple[list[TagPrediction], list[TagPrediction], RatingPrediction | None]:
    """(selected tags, candidates >= keep_floor, rating) for one image's probability vector."""
    if probs.shape != (len(table),):
        raise ValueError(f"model gave {probs.shape[-1]} probabilities for {len(table)} tags in selected_tags.csv")
    cats = table.categories
    rating_rows = table.rating_rows
    rating = None
    if len(rating_rows):
        rating_probs = {table.names[i]: float(probs[i]) for i in rating_rows}
        best = rating_rows[int(np.argmax(probs[rating_rows]))]
        rating = RatingPrediction(label=table.names[best], probabilities=rating_probs)

    general_t, character_t = thresholds.general, thresholds.character
    if thresholds.use_mcut:
        general_t = mcut_threshold(probs[cats == 0])
        character_t = max(thresholds.character_mcut_floor, mcut_threshold(probs[cats == 4]))
    per_cat = {0: general_t, 4: character_t}
    for name, value in thresholds.per_category:
        code = next(c for c, n in CATEGORY_NAMES.items() if n == name)
        per_cat[code] = value
    limits = np.array([per_cat.get(int(c), general_t) for c in cats], dtype=np.float32)

    tag_rows = np.flatnonzero(cats != 9)
    order = tag_rows[np.argsort(-probs[tag_rows], kind="stable")]

    def pred(i: int) -> TagPrediction:
        category = CATEGORY_NAMES.get(int(cats[i]), f"category_{int(cats[i])}")
        return TagPrediction(table.names[i], category, float(probs[i]))

    selected = [pred(i) for i in order if probs[i] >= limits[i]]
    if thresholds.max_tags is not None:
        selected = selected[: thresholds.max_tags]
    candidates = [pred(i) for i in order if probs[i] >= thresholds.keep_floor]
    return selected, candidates, rating
