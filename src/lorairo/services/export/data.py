"""What an export reads from the project database, as frozen values (safe to hand to other threads).

A selection holds its ids only and reads its images a chunk at a time, one column query per table (no ORM
objects), so an export or preview of 500k images never holds them all and never decodes an image: sizes come
from the database.
"""

from __future__ import annotations

import json
import threading
from array import array
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from lorairo.database.chunks import SQL_CHUNK, chunked
from lorairo.database.engine import Database
from lorairo.database.schema import SOURCE_MANUAL, ImageRecord, ImageRegionRecord
from lorairo.exceptions import ExportError
from lorairo.services.export.layout import displayable
from lorairo.storage.names import from_db_text


# Slots on the per-image records: an export of 500k images holds one ExportItem per image until its side files
# are written (bench/export_scale.py: a __dict__ per record was most of its memory).
@dataclass(frozen=True, slots=True)
class TagEntry:
    tag: str
    category: str | None
    source: str
    confidence: float | None
    rejected: bool
    row_id: int
    position: int | None = None  # the user's order (dragged chips); None: not placed by the user


@dataclass(frozen=True, slots=True)
class CaptionEntry:
    text: str
    source: str
    row_id: int


@dataclass(frozen=True, slots=True)
class ScoreEntry:
    name: str
    value: float
    scale_min: float
    scale_max: float
    source: str
    row_id: int

    def on_ten_scale(self) -> float:
        """The value on a 1-10 scale (aesthetic predictors already are; 0-1 scores are stretched)."""
        if self.scale_max == 10.0 and self.scale_min in (0.0, 1.0):
            return self.value
        span = self.scale_max - self.scale_min
        if span <= 0:
            return self.value
        return 1.0 + 9.0 * (self.value - self.scale_min) / span


@dataclass(frozen=True, slots=True)
class ExportItem:
    """One image with everything its caption and metadata can use."""

    image_id: int
    source_path: Path
    file_name: str
    width: int
    height: int
    format: str
    has_alpha: bool
    exif_orientation: int
    original_path: str = ""  # where the user's file was imported from (shown in reports, never written)
    tags: tuple[TagEntry, ...] = ()
    captions: tuple[CaptionEntry, ...] = ()
    rating: str | None = None
    scores: tuple[ScoreEntry, ...] = ()
    crop: tuple[int, int, int, int] | None = None  # (left, top, width, height) in upright pixels
    mask_path: Path | None = None  # the stored greyscale mask (upright size), when the image has one

    @property
    def export_size(self) -> tuple[int, int]:
        """The size before bucketing: the crop's when the image has one (export never decodes to know it)."""
        if self.crop is not None:
            return (self.crop[2], self.crop[3])
        return (self.width, self.height)

    @property
    def shown_path(self) -> str:
        """The path a report names: the user's original (not the copy in the project store), as valid text."""
        return displayable(self.original_path or str(self.source_path))

    def score(self, name: str | None) -> ScoreEntry | None:
        """The named score (manual first, then the newest), or the first ``aesthetic*`` score when no name."""
        candidates = [s for s in self.scores if (s.name == name if name else s.name.lower().startswith("aesthetic"))]
        if not candidates:
            return None
        candidates.sort(key=lambda s: (s.source != SOURCE_MANUAL, -s.row_id))
        return candidates[0]


@dataclass(frozen=True)
class LoadedSelection:
    """The images an export writes (excluded ones counted and left out). `items` is usually a
    `SelectionItems`, which reads the rows of a chunk of images only when it is reached."""

    items: Sequence[ExportItem]
    excluded_count: int


#: Images read per chunk: one IN list per table (SQLite's 999-parameter limit), a few MB of rows.
CHUNK = SQL_CHUNK


def resolve_image_path(project_root: Path, file_path: str) -> Path:
    """ImageRecord.file_path is relative to the project root when copied, absolute when referenced in place."""
    path = Path(file_path)
    return path if path.is_absolute() else project_root / path


class SelectionItems(Sequence[ExportItem]):
    """The export items of a selection, in id order, read from the database a chunk at a time.

    Holds the ids only (an ``array('q')``: 4 MB for 500k images); the images' rows and their tags, captions,
    ratings and scores are read when a chunk is first reached and the last chunk is kept. Iterating a
    selection of 500k images therefore never holds more than one chunk of rows (issue 20), and indexing
    (the dialog's "image 3 of 500,000") reads one chunk. Safe to use from any thread: every read opens its
    own session."""

    def __init__(self, db: Database, project_root: Path, ids: array[int]) -> None:
        self.db, self.project_root, self.ids = db, project_root, ids
        self._lock = threading.Lock()
        self._cached: tuple[int, list[ExportItem]] = (-1, [])

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, index: int) -> ExportItem: ...

    @overload
    def __getitem__(self, index: slice) -> list[ExportItem]: ...

    def __getitem__(self, index: int | slice) -> ExportItem | list[ExportItem]:
        if isinstance(index, slice):
            return self.load(self.ids[index])
        if index < 0:
            index += len(self.ids)
        if not 0 <= index < len(self.ids):
            raise IndexError(index)
        start = index - index % CHUNK
        return self._chunk(start)[index - start]

    def __iter__(self) -> Iterator[ExportItem]:
        for start in range(0, len(self.ids), CHUNK):
            yield from self._chunk(start)

    def _chunk(self, start: int) -> list[ExportItem]:
        with self._lock:
            if self._cached[0] == start:
                return self._cached[1]
        items = self.load(self.ids[start : start + CHUNK])
        with self._lock:
            self._cached = (start, items)
        return items

    def load(self, ids: Sequence[int]) -> list[ExportItem]:
        """The items of `ids` (ids of this selection), in the order given."""
        out: list[ExportItem] = []
        with self.db.session() as session:
            for chunk in chunked(ids, CHUNK):
                out.extend(load_items(session, self.project_root, chunk))
        return out

    def spread(self, count: int, run: int = 8) -> list[ExportItem]:
        """`count` items spread evenly over the selection (all of them when it has no more), in runs of `run`
        consecutive images: consecutive images have their tag rows side by side in the index, so a sample
        of 4,000 from 500k reads 500 places of the database instead of 4,000 (twice as fast, still spread)."""
        total = len(self.ids)
        if total <= count:
            return list(self)
        runs = -(-count // run)
        step = total / runs
        picked: list[int] = []
        for k in range(runs):
            start = int(k * step)
            picked.extend(self.ids[start : start + min(run, count - len(picked))])
        return self.load(picked)


def selected_ids(session: Session, image_ids: Sequence[int] | None) -> tuple[array[int], int]:
    """(ids to export in ascending order, how many of the selection are excluded).

    The given ids are joined through ``json_each`` (500k ids are one parameter, not 556 IN lists) and
    counted in SQLite; only excluded ids come back as rows.

    Raises:
        ExportError: an id in ``image_ids`` does not exist in the project.
    """
    if image_ids is None:
        kept = _id_array(session, "SELECT id FROM images WHERE excluded = 0 ORDER BY id")
        excluded = int(session.scalar(text("SELECT count(*) FROM images WHERE excluded = 1")) or 0)
        return kept, excluded
    wanted = sorted(set(image_ids))
    # One pass inside SQLite: no row per image comes back to Python, only the count and the excluded ids.
    found, left_out_text = session.execute(
        text(
            "SELECT count(*), group_concat(i.id) FILTER (WHERE i.excluded = 1) "
            "FROM json_each(:ids) AS j JOIN images AS i ON i.id = j.value"
        ),
        {"ids": json.dumps(wanted)},
    ).one()
    if found != len(wanted):  # every existing id joins exactly one row
        known = set(_existing(session, wanted))
        missing = [i for i in wanted if i not in known]
        shown = ", ".join(str(i) for i in missing[:10])
        raise ExportError(f"no image with id {shown}{' ...' if len(missing) > 10 else ''} in this project")
    left_out = {int(i) for i in left_out_text.split(",")} if left_out_text else set()
    kept = array("q", wanted if not left_out else (i for i in wanted if i not in left_out))
    return kept, len(left_out)


def _id_array(session: Session, sql: str) -> array[int]:
    """One integer column straight from the DB-API cursor into an ``array('q')`` (no row objects)."""
    raw = session.connection().connection.driver_connection
    cursor = raw.execute(sql)  # type: ignore[union-attr]
    try:
        return array("q", (row[0] for row in cursor))
    finally:
        cursor.close()


def _existing(session: Session, ids: Sequence[int]) -> Iterator[int]:
    for chunk in chunked(ids):
        yield from session.scalars(select(ImageRecord.id).where(ImageRecord.id.in_(chunk)))


def load_selection(db: Database, project_root: Path, image_ids: Sequence[int] | None) -> LoadedSelection:
    """The images to export (excluded ones counted and left out), read lazily (`SelectionItems`).

    Raises:
        ExportError: an id in ``image_ids`` does not exist in the project.
    """
    with db.session() as session:
        ids, excluded = selected_ids(session, image_ids)
    return LoadedSelection(items=SelectionItems(db, project_root, ids), excluded_count=excluded)


def load_items(session: Session, project_root: Path, ids: Sequence[int]) -> list[ExportItem]:
    """The export items of `ids` (at most a few thousand; unknown ids are left out), in the order given.

    One query per table on the session's own DB-API connection (same transaction): no ORM object, identity
    map or SQLAlchemy row per tag row. An image has ~10 tag rows, and SQLAlchemy's result processing of them
    was a fifth of an export's planning time (issue 20). Values are converted as the mapped types would:
    booleans from 0 / 1, file paths from their database form (`FsPath`)."""
    if not ids:
        return []
    chunk = list(ids)
    raw = session.connection().connection.driver_connection
    marks = ",".join("?" * len(chunk))

    def rows(sql: str) -> Iterator[tuple[Any, ...]]:
        return raw.execute(sql.format(marks=marks), chunk)  # type: ignore[union-attr]

    images = {
        row[0]: row
        for row in rows(
            "SELECT id, file_path, file_name, width, height, format, has_alpha, exif_orientation, original_path, "
            "manual_rating FROM images WHERE id IN ({marks})"
        )
    }
    tags: dict[int, list[TagEntry]] = defaultdict(list)
    captions: dict[int, list[CaptionEntry]] = defaultdict(list)
    ratings: dict[int, list[tuple[bool, int, str]]] = defaultdict(list)
    scores: dict[int, list[ScoreEntry]] = defaultdict(list)
    regions = {
        region.image_id: region
        for region in session.scalars(select(ImageRegionRecord).where(ImageRegionRecord.image_id.in_(chunk)))
    }
    tag_rows = rows(
        "SELECT image_id, tag, category, source, confidence, is_rejected, id, position FROM tags "
        "WHERE image_id IN ({marks}) ORDER BY id"
    )
    for image_id, tag, category, source, confidence, rejected, row_id, position in tag_rows:
        tags[image_id].append(TagEntry(tag, category, source, confidence, bool(rejected), row_id, position))
    for image_id, caption, source, row_id in rows(
        "SELECT image_id, text, source, id FROM captions WHERE image_id IN ({marks}) ORDER BY id"
    ):
        captions[image_id].append(CaptionEntry(caption, source, row_id))
    for image_id, source, row_id, label in rows(
        "SELECT image_id, source, id, label FROM ratings WHERE image_id IN ({marks})"
    ):
        ratings[image_id].append((source == SOURCE_MANUAL, row_id, label))
    for image_id, name, value, low, high, source, row_id in rows(
        "SELECT image_id, score_name, value, scale_min, scale_max, source, id FROM quality_scores "
        "WHERE image_id IN ({marks})"
    ):
        scores[image_id].append(ScoreEntry(name, value, low, high, source, row_id))

    items: list[ExportItem] = []
    for image_id in chunk:
        row = images.get(image_id)
        if row is None:
            continue
        _id, file_path, file_name, width, height, fmt, has_alpha, orientation, original, manual_rating = row
        file_path, original = from_db_text(file_path), from_db_text(original)
        rating = manual_rating
        if not rating and ratings[image_id]:
            rating = max(ratings[image_id])[2]  # manual first, then the newest row
        crop, mask_path = _region_of(regions.get(image_id), project_root, (width, height))
        items.append(
            ExportItem(
                image_id=image_id,
                source_path=resolve_image_path(project_root, file_path),
                file_name=file_name,
                width=width,
                height=height,
                format=fmt,
                has_alpha=bool(has_alpha),
                exif_orientation=orientation,
                original_path=original,
                tags=tuple(tags[image_id]),
                captions=tuple(captions[image_id]),
                rating=rating or None,
                scores=tuple(scores[image_id]),
                crop=crop,
                mask_path=mask_path,
            )
        )
    return items


def _region_of(
    region: ImageRegionRecord | None, project_root: Path, size: tuple[int, int]
) -> tuple[tuple[int, int, int, int] | None, Path | None]:
    """The crop (clamped to the image, so a stale row can never crop outside it) and the mask file of an image."""
    if region is None:
        return None, None
    crop = None
    if region.crop_left is not None and region.crop_top is not None and region.crop_width and region.crop_height:
        left, top = max(0, region.crop_left), max(0, region.crop_top)
        right = min(size[0], region.crop_left + region.crop_width)
        bottom = min(size[1], region.crop_top + region.crop_height)
        if right > left and bottom > top and (left, top, right, bottom) != (0, 0, size[0], size[1]):
            crop = (left, top, right - left, bottom - top)
    mask = project_root / region.mask_file if region.mask_file else None
    return crop, mask if mask is not None and mask.is_file() else None
