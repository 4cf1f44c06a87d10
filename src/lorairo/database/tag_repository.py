"""Reversible row changes for manual edits: tags, manual caption / rating / score, exclusion, duplicate links.

Every edit the user makes is expressed as a :data:`Change` (a frozen dataclass that says what the rows must
become) and applied with :class:`EditRepository` inside one write session. Applying a change returns its
inverse, computed from the rows as they were just before, so undo is "apply the inverse" and redo is "apply
the inverse of the inverse". Nothing here knows about Qt or about threads: callers open the session.

Rules the changes keep (the provenance contract):
- A removed model or sidecar tag is never deleted, only marked ``is_rejected`` so a re-annotation or a
  re-import cannot bring it back and export leaves it out; a removed manual tag is deleted.
- Manual values live in their own rows (``source="manual"``) and are never written over model output.

The change types live in database/edit_changes.py, the near-duplicate groups in database/near_duplicate_groups.py;
both are re-exported here for the callers that import them from this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from lorairo.database import near_duplicate_groups as groups
from lorairo.database import tag_sql
from lorairo.database.chunks import chunked
from lorairo.database.edit_changes import (
    MANUAL_SCORE_MAX,
    MANUAL_SCORE_MIN,
    MANUAL_SCORE_NAME,
    Change,
    ChangeSet,
    DeleteTags,
    InsertTags,
    RejectGroup,
    SetExcluded,
    SetLinkStatus,
    SetManualCaptionLists,
    SetManualCaptions,
    SetManualRatings,
    SetManualScores,
    SetTagPositions,
    SetTagsRejected,
    TagKey,
    TagRow,
    is_empty,
    reject_groups,
    tag_rows_of,
)
from lorairo.database.near_duplicate_groups import LINK_PENDING, LINK_REVIEWED, GroupMember, NearDuplicateGroup
from lorairo.database.schema import (
    SOURCE_MANUAL,
    CaptionRecord,
    ImageRecord,
    NearDuplicateRecord,
    QualityScoreRecord,
    TagRecord,
    utcnow,
)

__all__ = [
    "LINK_PENDING",
    "LINK_REVIEWED",
    "MANUAL_SCORE_MAX",
    "MANUAL_SCORE_MIN",
    "MANUAL_SCORE_NAME",
    "Change",
    "ChangeSet",
    "DeleteTags",
    "EditRepository",
    "GroupMember",
    "InsertTags",
    "NearDuplicateGroup",
    "RejectGroup",
    "SetExcluded",
    "SetLinkStatus",
    "SetManualCaptionLists",
    "SetManualCaptions",
    "SetManualRatings",
    "SetManualScores",
    "SetTagPositions",
    "SetTagsRejected",
    "TagKey",
    "TagRow",
    "is_empty",
    "reject_groups",
    "tag_rows_of",
]


class EditRepository:
    """Applies :data:`Change` objects to one session and reads the rows edits are based on."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- reads ---------------------------------------------------------------------------------------

    def existing_image_ids(self, image_ids: Iterable[int]) -> set[int]:
        ids = sorted(set(image_ids))
        found: set[int] = set()
        for chunk in chunked(ids):
            found.update(self.session.scalars(select(ImageRecord.id).where(ImageRecord.id.in_(chunk))))
        return found

    def tag_rows(self, image_ids: Iterable[int], tags: Iterable[str] | None = None) -> list[Any]:
        """Every tag row (active and rejected) of the given images, as light rows (attribute access, no ORM
        objects: batch edits over 10k images read 50k of them). `tags`: only rows of these tags (any case):
        a rename over 60k images then reads 60k rows, not the 500k of every tag."""
        ids = sorted(set(image_ids))
        lowered = sorted({tag.lower() for tag in tags}) if tags is not None else None
        rows: list[Any] = []
        columns = (
            TagRecord.id,
            TagRecord.image_id,
            TagRecord.tag,
            TagRecord.category,
            TagRecord.source,
            TagRecord.model_id,
            TagRecord.is_rejected,
        )
        for chunk in chunked(ids):
            stmt = select(*columns).where(TagRecord.image_id.in_(chunk))
            if lowered is not None:
                stmt = stmt.where(func.lower(TagRecord.tag).in_(lowered))
            rows.extend(self.session.execute(stmt))
        return rows

    def manual_captions(self, image_id: int) -> list[str]:
        """The image's manual captions in the user's order."""
        return list(
            self.session.scalars(
                select(CaptionRecord.text)
                .where(CaptionRecord.image_id == image_id, CaptionRecord.source == SOURCE_MANUAL)
                .order_by(CaptionRecord.id)
            )
        )

    def manual_caption(self, image_id: int) -> str | None:
        return self.session.scalar(
            select(CaptionRecord.text)
            .where(CaptionRecord.image_id == image_id, CaptionRecord.source == SOURCE_MANUAL)
            .order_by(CaptionRecord.id)
            .limit(1)
        )

    def links_among(self, ids: set[int]) -> list[NearDuplicateRecord]:
        """Near-duplicate links whose both ends are in `ids`."""
        return groups.links_among(self.session, ids)

    def near_duplicate_groups(self, *, include_reviewed: bool = False) -> list[NearDuplicateGroup]:
        """Connected components of the near-duplicate links (union-find), smallest image id first."""
        return groups.near_duplicate_groups(self.session, include_reviewed=include_reviewed)

    # --- apply ---------------------------------------------------------------------------------------

    def apply(self, change: Change) -> tuple[Change, set[int]]:
        """Apply `change`; return its inverse and the ids of the images whose rows changed."""
        if isinstance(change, ChangeSet):
            inverses: list[Change] = []
            touched: set[int] = set()
            for part in change.parts:
                inverse, ids = self.apply(part)
                inverses.append(inverse)
                touched |= ids
            return ChangeSet(tuple(reversed(inverses))), touched
        if isinstance(change, InsertTags):
            return self._insert_tags(change)
        if isinstance(change, DeleteTags):
            return self._delete_tags(change)
        if isinstance(change, SetTagsRejected):
            return self._set_rejected(change)
        if isinstance(change, SetManualCaptions):
            return self._set_captions(change)
        if isinstance(change, SetManualCaptionLists):
            return self._set_caption_lists(change)
        if isinstance(change, SetManualRatings):
            return self._set_ratings(change)
        if isinstance(change, SetManualScores):
            return self._set_scores(change)
        if isinstance(change, SetExcluded):
            return self._set_excluded(change)
        if isinstance(change, SetTagPositions):
            return self._set_positions(change)
        return self._set_link_status(change)

    def _insert_tags(self, change: InsertTags) -> tuple[Change, set[int]]:
        # Plain SQL on the session's connection (database/tag_sql.py says why): undo of a project-wide delete
        # re-inserts 65k rows.
        new_ids = tag_sql.insert_rows(tag_sql.raw_connection(self.session), change.rows)
        return DeleteTags(tuple(new_ids)), {row.image_id for row in change.rows}

    def _delete_tags(self, change: DeleteTags) -> tuple[Change, set[int]]:
        rows = tag_rows_of(tag_sql.delete_rows(tag_sql.raw_connection(self.session), change.tag_ids))
        return InsertTags(rows), {row.image_id for row in rows}

    def _set_rejected(self, change: SetTagsRejected) -> tuple[Change, set[int]]:
        # Grouped by (tag, source, model): one UPDATE ... RETURNING per group and chunk of images.
        flipped = tag_sql.set_rejected(tag_sql.raw_connection(self.session), change.grouped(), change.rejected)
        bulk = reject_groups(flipped)
        return SetTagsRejected((), not change.rejected, bulk), {image_id for *_k, ids in bulk for image_id in ids}

    def _manual_rows(self, table: Any, image_ids: list[int], value_column: Any, *filters: Any) -> dict[int, list[Any]]:
        """Manual rows (id, image_id, value) of `table` per image, oldest first."""
        found: dict[int, list[Any]] = {}
        for chunk in chunked(image_ids):
            stmt = (
                select(table.id, table.image_id, value_column)
                .where(table.image_id.in_(chunk), table.source == SOURCE_MANUAL, *filters)
                .order_by(table.id)
            )
            for row in self.session.execute(stmt):
                found.setdefault(row.image_id, []).append(row)
        return found

    def _set_manual_values(
        self, table: Any, value_column: Any, values: tuple[tuple[int, Any], ...], make: Any, *filters: Any
    ) -> list[tuple[int, Any]]:
        """Make each image's single manual row of `table` hold `value` (None deletes it); return old values."""
        image_ids = [image_id for image_id, _ in values]
        existing = self._manual_rows(table, image_ids, value_column, *filters)
        previous: list[tuple[int, Any]] = []
        to_delete: list[int] = []
        to_update: dict[Any, list[int]] = {}
        to_insert: list[dict[str, Any]] = []
        for image_id, value in values:
            rows = existing.get(image_id, [])
            previous.append((image_id, getattr(rows[0], value_column.key) if rows else None))
            to_delete.extend(row.id for row in rows[1:])  # one manual row per image: older duplicates fold away
            if value is None:
                to_delete.extend(row.id for row in rows[:1])
            elif rows:
                to_update.setdefault(value, []).append(rows[0].id)
            else:
                to_insert.append(make(image_id, value))
        for chunk in chunked(to_delete):
            self.session.execute(delete(table).where(table.id.in_(chunk)).execution_options(synchronize_session=False))
        for value, row_ids in to_update.items():
            for chunk in chunked(row_ids):
                self.session.execute(
                    update(table)
                    .where(table.id.in_(chunk))
                    .values({value_column.key: value})
                    .execution_options(synchronize_session=False)
                )
        if to_insert:
            self.session.execute(insert(table), to_insert)
        return previous

    def _set_captions(self, change: SetManualCaptions) -> tuple[Change, set[int]]:
        now = utcnow()
        previous = self._set_manual_values(
            CaptionRecord,
            CaptionRecord.text,
            change.values,
            lambda image_id, text: {
                "image_id": image_id,
                "text": text,
                "source": SOURCE_MANUAL,
                "created_at": now,
                "updated_at": now,
            },
        )
        return SetManualCaptions(tuple(previous)), {image_id for image_id, _ in change.values}

    def _set_caption_lists(self, change: SetManualCaptionLists) -> tuple[Change, set[int]]:
        """Replace each image's manual caption rows by new rows in the given order; return the old lists."""
        now = utcnow()
        image_ids = [image_id for image_id, _ in change.values]
        existing = self._manual_rows(CaptionRecord, image_ids, CaptionRecord.text)
        previous = tuple((i, tuple(row.text for row in existing.get(i, []))) for i in image_ids)
        old_ids = [row.id for rows in existing.values() for row in rows]
        for chunk in chunked(old_ids):
            self.session.execute(
                delete(CaptionRecord).where(CaptionRecord.id.in_(chunk)).execution_options(synchronize_session=False)
            )
        rows = [
            {"image_id": image_id, "text": text, "source": SOURCE_MANUAL, "created_at": now, "updated_at": now}
            for image_id, texts in change.values
            for text in texts
        ]
        for row in rows:  # one by one: the ids must follow the list's order
            self.session.execute(insert(CaptionRecord), [row])
        return SetManualCaptionLists(previous), set(image_ids)

    def _set_scores(self, change: SetManualScores) -> tuple[Change, set[int]]:
        now = utcnow()
        previous = self._set_manual_values(
            QualityScoreRecord,
            QualityScoreRecord.value,
            change.values,
            lambda image_id, value: {
                "image_id": image_id,
                "score_name": MANUAL_SCORE_NAME,
                "value": value,
                "scale_min": MANUAL_SCORE_MIN,
                "scale_max": MANUAL_SCORE_MAX,
                "source": SOURCE_MANUAL,
                "created_at": now,
            },
            QualityScoreRecord.score_name == MANUAL_SCORE_NAME,
        )
        return SetManualScores(tuple(previous)), {image_id for image_id, _ in change.values}

    def _set_image_column(self, column: Any, values: tuple[tuple[int, Any], ...]) -> list[tuple[int, Any]]:
        """Set one column of `images` per image (grouped by value); return the old values of existing images."""
        wanted = dict(values)
        previous: list[tuple[int, Any]] = []
        for chunk in chunked(sorted(wanted)):
            rows = self.session.execute(select(ImageRecord.id, column).where(ImageRecord.id.in_(chunk)))
            previous.extend((int(row[0]), row[1]) for row in rows)
        by_value: dict[Any, list[int]] = {}
        for image_id, old in previous:
            if old != wanted[image_id]:
                by_value.setdefault(wanted[image_id], []).append(image_id)
        for value, ids in by_value.items():
            for chunk in chunked(ids):
                self.session.execute(
                    update(ImageRecord)
                    .where(ImageRecord.id.in_(chunk))
                    .values({column.key: value, "updated_at": utcnow()})
                    .execution_options(synchronize_session=False)
                )
        return previous

    def _set_ratings(self, change: SetManualRatings) -> tuple[Change, set[int]]:
        previous = self._set_image_column(ImageRecord.manual_rating, change.values)
        return SetManualRatings(tuple(previous)), {image_id for image_id, _ in previous}

    def _set_excluded(self, change: SetExcluded) -> tuple[Change, set[int]]:
        previous = self._set_image_column(ImageRecord.excluded, change.values)
        return SetExcluded(tuple(previous)), {image_id for image_id, _ in previous}

    def _set_positions(self, change: SetTagPositions) -> tuple[Change, set[int]]:
        wanted = dict(change.values)
        previous: list[tuple[int, int | None]] = []
        touched: set[int] = set()
        for chunk in chunked(sorted(wanted)):
            stmt = select(TagRecord.id, TagRecord.image_id, TagRecord.position).where(TagRecord.id.in_(chunk))
            for row_id, image_id, old in self.session.execute(stmt):
                if old != wanted[int(row_id)]:
                    previous.append((int(row_id), old))
                    touched.add(int(image_id))
        by_value: dict[int | None, list[int]] = {}
        for row_id, _old in previous:
            by_value.setdefault(wanted[row_id], []).append(row_id)
        for value, ids in by_value.items():
            for chunk in chunked(ids):
                self.session.execute(
                    update(TagRecord)
                    .where(TagRecord.id.in_(chunk))
                    .values(position=value, updated_at=utcnow())
                    .execution_options(synchronize_session=False)
                )
        return SetTagPositions(tuple(previous)), touched

    def _set_link_status(self, change: SetLinkStatus) -> tuple[Change, set[int]]:
        wanted = dict(change.values)
        previous: list[tuple[int, str]] = []
        touched: set[int] = set()
        for chunk in chunked(sorted(wanted)):
            stmt = select(
                NearDuplicateRecord.id,
                NearDuplicateRecord.status,
                NearDuplicateRecord.image_id,
                NearDuplicateRecord.match_image_id,
            ).where(NearDuplicateRecord.id.in_(chunk))
            for link_id, status, a, b in self.session.execute(stmt):
                previous.append((int(link_id), str(status)))
                touched |= {int(a), int(b)}
        by_status: dict[str, list[int]] = {}
        for link_id, _old in previous:
            by_status.setdefault(wanted[link_id], []).append(link_id)
        for status, ids in by_status.items():
            for chunk in chunked(ids):
                self.session.execute(
                    update(NearDuplicateRecord)
                    .where(NearDuplicateRecord.id.in_(chunk))
                    .values(status=status)
                    .execution_options(synchronize_session=False)
                )
        return SetLinkStatus(tuple(previous)), touched
