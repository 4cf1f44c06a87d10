"""What a manual edit does to the rows, as data: one frozen dataclass per kind of change (a :data:`Change`).

Applying a change (database/tag_repository.py, :class:`EditRepository`) returns its inverse, computed from the
rows as they were just before, so undo is "apply the inverse" and redo is "apply the inverse of the inverse".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

MANUAL_SCORE_NAME = "manual"
MANUAL_SCORE_MIN = 1.0
MANUAL_SCORE_MAX = 10.0


@dataclass(frozen=True, slots=True)  # slots: one object per row, not two (an undo record may hold 65k)
class TagRow:
    """The data of one tag row (without its id, which is assigned on insertion)."""

    image_id: int
    tag: str
    category: str | None
    source: str
    model_id: int | None = None
    annotation_id: int | None = None
    confidence: float | None = None
    is_rejected: bool = False
    position: int | None = None  # the user's order of the image's tags (None: not placed by the user)


@dataclass(frozen=True, slots=True)
class TagKey:
    """Which rows a rejection applies to: one tag of one image from one source (and model)."""

    image_id: int
    tag: str
    source: str
    model_id: int | None


@dataclass(frozen=True)
class InsertTags:
    rows: tuple[TagRow, ...]


@dataclass(frozen=True)
class DeleteTags:
    tag_ids: tuple[int, ...]


#: Rows of one (tag, source, model) on these images: the bulk form of `TagKey`s.
RejectGroup = tuple[str, str, int | None, tuple[int, ...]]


@dataclass(frozen=True)
class SetTagsRejected:
    """Reject (or restore) model / sidecar tags, named by content rather than row id: a re-annotation replaces
    a model's rows with new ids but keeps rejected names rejected, so undo must still find them.

    `groups` holds the same as `keys`, one (tag, source, model, image ids) per tag: the inverse of a project-wide
    edit of 65k rows is a handful of tuples of ints instead of 65k objects, which every later full garbage
    collection would walk (holding the GIL: a 116-141 ms GUI stall measured, docs/benchmarks.md)."""

    keys: tuple[TagKey, ...]
    rejected: bool
    groups: tuple[RejectGroup, ...] = ()

    def grouped(self) -> dict[tuple[str, str, int | None], list[int]]:
        """(tag, source, model) -> image ids, from both forms."""
        found: dict[tuple[str, str, int | None], list[int]] = {}
        for key in self.keys:
            found.setdefault((key.tag, key.source, key.model_id), []).append(key.image_id)
        for tag, source, model_id, image_ids in self.groups:
            found.setdefault((tag, source, model_id), []).extend(image_ids)
        return found


def reject_groups(flipped: Iterable[tuple[int, str, str, int | None]]) -> tuple[RejectGroup, ...]:
    """(image, tag, source, model) rows -> the bulk form, image ids ascending and unique."""
    found: dict[tuple[str, str, int | None], set[int]] = {}
    for image_id, tag, source, model_id in flipped:
        found.setdefault((tag, source, model_id), set()).add(int(image_id))
    return tuple((tag, source, model_id, tuple(sorted(ids))) for (tag, source, model_id), ids in found.items())


@dataclass(frozen=True)
class SetManualCaptions:
    """Image id -> manual caption text (None removes the manual caption)."""

    values: tuple[tuple[int, str | None], ...]


@dataclass(frozen=True)
class SetManualCaptionLists:
    """Image id -> its manual captions in the user's order (an empty tuple removes them all).

    Rows are written in that order, so their ids hold it: export and the details panel read manual captions by
    ascending id (no order column is needed)."""

    values: tuple[tuple[int, tuple[str, ...]], ...]


@dataclass(frozen=True)
class SetManualRatings:
    """Image id -> manual rating label (None clears it)."""

    values: tuple[tuple[int, str | None], ...]


@dataclass(frozen=True)
class SetManualScores:
    """Image id -> manual score on the 1-10 scale (None removes it)."""

    values: tuple[tuple[int, float | None], ...]


@dataclass(frozen=True)
class SetExcluded:
    """Image id -> excluded from export."""

    values: tuple[tuple[int, bool], ...]


@dataclass(frozen=True)
class SetLinkStatus:
    """Near-duplicate link id -> status (pending / reviewed)."""

    values: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class SetTagPositions:
    """Tag row id -> the user's position of that tag in its image's caption order (None: unplaced)."""

    values: tuple[tuple[int, int | None], ...]


@dataclass(frozen=True)
class ChangeSet:
    """Several changes applied in order (their inverse is applied in reverse order)."""

    parts: tuple[Change, ...]


Change = (
    InsertTags
    | DeleteTags
    | SetTagsRejected
    | SetManualCaptions
    | SetManualCaptionLists
    | SetManualRatings
    | SetManualScores
    | SetExcluded
    | SetLinkStatus
    | SetTagPositions
    | ChangeSet
)


def is_empty(change: Change) -> bool:
    """True when applying `change` would touch nothing."""
    if isinstance(change, ChangeSet):
        return all(is_empty(part) for part in change.parts)
    if isinstance(change, InsertTags):
        return not change.rows
    if isinstance(change, DeleteTags):
        return not change.tag_ids
    if isinstance(change, SetTagsRejected):
        return not change.keys and not any(group[3] for group in change.groups)
    return not change.values


def tag_rows_of(rows: Iterable[tuple[Any, ...]]) -> tuple[TagRow, ...]:
    """`TagRow`s from plain rows in `TagRow`'s field order (as `tag_sql` returns them)."""
    return tuple(
        TagRow(image_id, tag, category, source, model_id, annotation_id, confidence, bool(rejected), position)
        for image_id, tag, category, source, model_id, annotation_id, confidence, rejected, position in rows
    )
