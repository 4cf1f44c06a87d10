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
    def category_names(self) -> tuple[str, ...]:
        """Category name per row ("general", "character", ...), computed once."""
        cached: tuple[str, ...] | None = self.__dict__.get("_category_names")
        if cached is None:
            cached = tuple(CATEGORY_NAMES.get(int(c), f"category_{int(c)}") for c in self.categories)
            object.__setattr__(self, "_category_names", cached)
        return cached

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
    limits = np.full(len(cats), general_t, dtype=np.float64)
    for code, value in per_cat.items():
        limits[cats == code] = value

    # Vectorised: real taggers have ~10,000 rows but only tens of candidates, so objects are made for those only.
    keep = np.flatnonzero((cats != 9) & (probs >= min(thresholds.keep_floor, float(limits.min(initial=1.0)))))
    order = keep[np.argsort(-probs[keep], kind="stable")]

    names, cat_names = table.names, table.category_names
    values = probs[order].tolist()
    is_selected = (probs[order] >= limits[order]).tolist()
    is_candidate = (probs[order] >= thresholds.keep_floor).tolist()
    preds = [TagPrediction(names[i], cat_names[i], p) for i, p in zip(order.tolist(), values, strict=True)]
    selected = [p for p, keep_it in zip(preds, is_selected, strict=True) if keep_it]
    if thresholds.max_tags is not None:
        selected = selected[: thresholds.max_tags]
    candidates = [p for p, keep_it in zip(preds, is_candidate, strict=True) if keep_it]
    return selected, candidates, rating
