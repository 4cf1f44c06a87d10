"""Reversible row changes for manual edits: tags, manual caption / rating / score, exclusion, duplicate links.

Every edit the user makes is expressed as a :data:`Change` (a frozen dataclass that says what the rows must
become) and applied with :class:`EditRepository` inside one write session. Applying a change returns its
inverse, computed from the rows as they were just before, so undo is "apply the inverse" and redo is "apply
the inverse of the inverse". Nothing here knows about Qt or about threads: callers open the session.

Rules the changes keep (the provenance contract):
- A removed model or sidecar tag is never deleted, only marked ``is_rejected`` so a re-annotation or a
  re-import cannot bring it back and export leaves it out; a removed manual tag is deleted.
- Manual values live in their own rows (``source="manual"``) and are never written over model output.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lorairo.database.schema import (
    SOURCE_MANUAL,
    CaptionRecord,
    ImageRecord,
    NearDuplicateRecord,
    QualityScoreRecord,
    TagRecord,
)

MANUAL_SCORE_NAME = "manual"
MANUAL_SCORE_MIN = 1.0
MANUAL_SCORE_MAX = 10.0
LINK_PENDING = "pending"
LINK_REVIEWED = "reviewed"


@dataclass(frozen=True)
class GroupMember:
    """One image of a near-duplicate group, as the review dialog shows it."""

    image_id: int
    file_name: str
    file_path: str
    hash_value: str
    width: int
    height: int
    file_size: int
    excluded: bool
    tag_count: int


@dataclass(frozen=True)
class NearDuplicateGroup:
    """Images linked by pHash distance (connected pairs). `links` are (image_id, match_id, distance)."""

    members: tuple[GroupMember, ...]
    links: tuple[tuple[int, int, int], ...]

    @property
    def image_ids(self) -> tuple[int, ...]:
        return tuple(member.image_id for member in self.members)

    def distance_to(self, image_id: int, other_id: int) -> int | None:
        """The pHash distance of the direct link between two members, None when they are linked via others."""
        for a, b, distance in self.links:
            if {a, b} == {image_id, other_id}:
                return distance
        return None


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class SetTagsRejected:
    """Reject (or restore) model / sidecar tags, named by content rather than row id: a re-annotation replaces
    a model's rows with new ids but keeps rejected names rejected, so undo must still find them."""

    keys: tuple[TagKey, ...]
    rejected: bool


@dataclass(frozen=True)
class SetManualCaptions:
    """Image id -> manual caption text (None removes the manual caption)."""

    values: tuple[tuple[int, str | None], ...]


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
class ChangeSet:
    """Several changes applied in order (their inverse is applied in reverse order)."""

    parts: tuple[Change, ...]


Change = (
    InsertTags
    | DeleteTags
    | SetTagsRejected
    | SetManualCaptions
    | SetManualRatings
    | SetManualScores
    | SetExcluded
    | SetLinkStatus
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
        return not change.keys
    return not change.values


class EditRepository:
    """Applies :data:`Change` objects to one session and reads the rows edits are based on."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- reads ---------------------------------------------------------------------------------------

    def existing_image_ids(self, image_ids: Iterable[int]) -> set[int]:
        ids = sorted(set(image_ids))
        found: set[int] = set()
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            found.update(self.session.scalars(select(ImageRecord.id).where(ImageRecord.id.in_(chunk))))
        return found

    def tag_rows(self, image_ids: Iterable[int]) -> list[TagRecord]:
        """Every tag row (active and rejected) of the given images."""
        ids = sorted(set(image_ids))
        rows: list[TagRecord] = []
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            rows.extend(self.session.scalars(select(TagRecord).where(TagRecord.image_id.in_(chunk))))
        return rows

    def manual_caption(self, image_id: int) -> str | None:
        return self.session.scalar(
            select(CaptionRecord.text)
            .where(CaptionRecord.image_id == image_id, CaptionRecord.source == SOURCE_MANUAL)
            .order_by(CaptionRecord.id)
            .limit(1)
        )

    def links_among(self, ids: set[int]) -> list[NearDuplicateRecord]:
        """Near-duplicate links whose both ends are in `ids`."""
        return list(
            self.session.scalars(
                select(NearDuplicateRecord).where(
                    NearDuplicateRecord.image_id.in_(ids), NearDuplicateRecord.match_image_id.in_(ids)
                )
            )
        )

    def near_duplicate_groups(self, *, include_reviewed: bool = False) -> list[NearDuplicateGroup]:
        """Connected components of the near-duplicate links (union-find), smallest image id first."""
        stmt = select(NearDuplicateRecord.image_id, NearDuplicateRecord.match_image_id, NearDuplicateRecord.distance)
        if not include_reviewed:
            stmt = stmt.where(NearDuplicateRecord.status == LINK_PENDING)
        links = sorted((int(a), int(b), int(d)) for a, b, d in self.session.execute(stmt))
        parent: dict[int, int] = {}

        def find(x: int) -> int:
            parent.setdefault(x, x)
            while parent[x] != x:
                parent[x] = parent[parent[x]]
                x = parent[x]
            return x

        for a, b, _ in links:
            parent[find(a)] = find(b)
        components: dict[int, list[int]] = {}
        for node in sorted(parent):
            components.setdefault(find(node), []).append(node)
        members = self._members(sorted(parent))
        groups = []
        for ids in components.values():
            chosen = set(ids)
            group_members = tuple(members[i] for i in ids if i in members)
            if len(group_members) > 1:
                groups.append(NearDuplicateGroup(group_members, tuple(link for link in links if link[0] in chosen)))
        return sorted(groups, key=lambda group: group.image_ids)

    def _members(self, ids: list[int]) -> dict[int, GroupMember]:
        found: dict[int, GroupMember] = {}
        for start in range(0, len(ids), 900):
            chunk = ids[start : start + 900]
            counts: dict[int, int] = {
                int(image_id): int(n)
                for image_id, n in self.session.execute(
                    select(TagRecord.image_id, func.count(TagRecord.id))
                    .where(TagRecord.image_id.in_(chunk), TagRecord.is_rejected.is_(False))
                    .group_by(TagRecord.image_id)
                )
            }
            for image in self.session.scalars(select(ImageRecord).where(ImageRecord.id.in_(chunk))):
                found[image.id] = GroupMember(
                    image.id,
                    image.file_name,
                    image.file_path,
                    image.hash_value,
                    image.width,
                    image.height,
                    image.file_size,
                    image.excluded,
                    int(counts.get(image.id, 0)),
                )
        return found

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
        if isinstance(change, SetManualRatings):
            return self._set_ratings(change)
        if isinstance(change, SetManualScores):
            return self._set_scores(change)
        if isinstance(change, SetExcluded):
            return self._set_excluded(change)
        return self._set_link_status(change)

    def _insert_tags(self, change: InsertTags) -> tuple[Change, set[int]]:
        records = [
            TagRecord(
                image_id=row.image_id,
                tag=row.tag,
                category=row.category,
                source=row.source,
                model_id=row.model_id,
                annotation_id=row.annotation_id,
                confidence=row.confidence,
                is_rejected=row.is_rejected,
            )
            for row in change.rows
        ]
        self.session.add_all(records)
        self.session.flush()
        return DeleteTags(tuple(record.id for record in records)), {row.image_id for row in change.rows}

    def _delete_tags(self, change: DeleteTags) -> tuple[Change, set[int]]:
        records = [r for r in (self.session.get(TagRecord, tag_id) for tag_id in change.tag_ids) if r is not None]
        rows = tuple(
            TagRow(r.image_id, r.tag, r.category, r.source, r.model_id, r.annotation_id, r.confidence, r.is_rejected)
            for r in records
        )
        for record in records:
            self.session.delete(record)
        self.session.flush()
        return InsertTags(rows), {row.image_id for row in rows}

    def _set_rejected(self, change: SetTagsRejected) -> tuple[Change, set[int]]:
        flipped: list[TagKey] = []
        for key in change.keys:
            model_match = TagRecord.model_id.is_(None) if key.model_id is None else TagRecord.model_id == key.model_id
            rows = self.session.scalars(
                select(TagRecord).where(
                    TagRecord.image_id == key.image_id,
                    TagRecord.tag == key.tag,
                    TagRecord.source == key.source,
                    model_match,
                    TagRecord.is_rejected.is_(not change.rejected),
                )
            ).all()
            for record in rows:
                record.is_rejected = change.rejected
            if rows:
                flipped.append(key)
        self.session.flush()
        return SetTagsRejected(tuple(flipped), not change.rejected), {key.image_id for key in flipped}

    def _set_captions(self, change: SetManualCaptions) -> tuple[Change, set[int]]:
        previous: list[tuple[int, str | None]] = []
        for image_id, text in change.values:
            rows = list(
                self.session.scalars(
                    select(CaptionRecord)
                    .where(CaptionRecord.image_id == image_id, CaptionRecord.source == SOURCE_MANUAL)
                    .order_by(CaptionRecord.id)
                )
            )
            old = rows[0].text if rows else None
            previous.append((image_id, old))
            for extra in rows[1:]:  # one manual caption per image; older duplicates are folded away
                self.session.delete(extra)
            if text is None:
                if rows:
                    self.session.delete(rows[0])
            elif rows:
                rows[0].text = text
            else:
                self.session.add(CaptionRecord(image_id=image_id, text=text, source=SOURCE_MANUAL))
        self.session.flush()
        return SetManualCaptions(tuple(previous)), {image_id for image_id, _ in change.values}

    def _set_ratings(self, change: SetManualRatings) -> tuple[Change, set[int]]:
        previous: list[tuple[int, str | None]] = []
        for image_id, label in change.values:
            image = self.session.get(ImageRecord, image_id)
            if image is None:
                continue
            previous.append((image_id, image.manual_rating))
            image.manual_rating = label
        self.session.flush()
        return SetManualRatings(tuple(previous)), {image_id for image_id, _ in previous}

    def _set_scores(self, change: SetManualScores) -> tuple[Change, set[int]]:
        previous: list[tuple[int, float | None]] = []
        for image_id, value in change.values:
            rows = list(
                self.session.scalars(
                    select(QualityScoreRecord)
                    .where(
                        QualityScoreRecord.image_id == image_id,
                        QualityScoreRecord.source == SOURCE_MANUAL,
                        QualityScoreRecord.score_name == MANUAL_SCORE_NAME,
                    )
                    .order_by(QualityScoreRecord.id)
                )
            )
            previous.append((image_id, rows[0].value if rows else None))
            for extra in rows[1:]:
                self.session.delete(extra)
            if value is None:
                if rows:
                    self.session.delete(rows[0])
            elif rows:
                rows[0].value = value
            else:
                self.session.add(
                    QualityScoreRecord(
                        image_id=image_id,
                        score_name=MANUAL_SCORE_NAME,
                        value=value,
                        scale_min=MANUAL_SCORE_MIN,
                        scale_max=MANUAL_SCORE_MAX,
                        source=SOURCE_MANUAL,
                    )
                )
        self.session.flush()
        return SetManualScores(tuple(previous)), {image_id for image_id, _ in change.values}

    def _set_excluded(self, change: SetExcluded) -> tuple[Change, set[int]]:
        previous: list[tuple[int, bool]] = []
        for image_id, excluded in change.values:
            image = self.session.get(ImageRecord, image_id)
            if image is None:
                continue
            previous.append((image_id, image.excluded))
            image.excluded = excluded
        self.session.flush()
        return SetExcluded(tuple(previous)), {image_id for image_id, _ in previous}

    def _set_link_status(self, change: SetLinkStatus) -> tuple[Change, set[int]]:
        previous: list[tuple[int, str]] = []
        touched: set[int] = set()
        for link_id, status in change.values:
            link = self.session.get(NearDuplicateRecord, link_id)
            if link is None:
                continue
            previous.append((link_id, link.status))
            link.status = status
            touched |= {link.image_id, link.match_image_id}
        self.session.flush()
        return SetLinkStatus(tuple(previous)), touched
