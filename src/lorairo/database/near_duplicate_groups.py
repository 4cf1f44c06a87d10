"""Near-duplicate groups: the connected components of the near-duplicate links, with what the review shows of
each image (the duplicates review in the GUI, `lorairo duplicates`)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lorairo.database.chunks import chunked
from lorairo.database.schema import ImageRecord, NearDuplicateRecord, TagRecord

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
    # Pairs (low id, high id) linked by image embeddings (kind "semantic": distance = (1 - cosine) x 1000).
    semantic: frozenset[tuple[int, int]] = frozenset()

    def is_semantic(self, image_id: int, other_id: int) -> bool:
        return (min(image_id, other_id), max(image_id, other_id)) in self.semantic

    @property
    def image_ids(self) -> tuple[int, ...]:
        return tuple(member.image_id for member in self.members)

    def distance_to(self, image_id: int, other_id: int) -> int | None:
        """The pHash distance of the direct link between two members, None when they are linked via others."""
        for a, b, distance in self.links:
            if {a, b} == {image_id, other_id}:
                return distance
        return None


def links_among(session: Session, ids: set[int]) -> list[NearDuplicateRecord]:
    """Near-duplicate links whose both ends are in `ids`."""
    return list(
        session.scalars(
            select(NearDuplicateRecord).where(
                NearDuplicateRecord.image_id.in_(ids), NearDuplicateRecord.match_image_id.in_(ids)
            )
        )
    )


def near_duplicate_groups(session: Session, *, include_reviewed: bool = False) -> list[NearDuplicateGroup]:
    """Connected components of the near-duplicate links (union-find), smallest image id first."""
    stmt = select(
        NearDuplicateRecord.image_id,
        NearDuplicateRecord.match_image_id,
        NearDuplicateRecord.distance,
        NearDuplicateRecord.kind,
    )
    if not include_reviewed:
        stmt = stmt.where(NearDuplicateRecord.status == LINK_PENDING)
    rows = list(session.execute(stmt))
    links = sorted((int(a), int(b), int(d)) for a, b, d, _kind in rows)
    semantic = frozenset((min(int(a), int(b)), max(int(a), int(b))) for a, b, _d, k in rows if k == "semantic")
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
    members = _members(session, sorted(parent))
    groups = []
    for ids in components.values():
        chosen = set(ids)
        group_members = tuple(members[i] for i in ids if i in members)
        if len(group_members) > 1:
            group_links = tuple(link for link in links if link[0] in chosen)
            pairs = frozenset(p for p in semantic if p[0] in chosen)
            groups.append(NearDuplicateGroup(group_members, group_links, pairs))
    return sorted(groups, key=lambda group: group.image_ids)


def _members(session: Session, ids: list[int]) -> dict[int, GroupMember]:
    found: dict[int, GroupMember] = {}
    for chunk in chunked(ids):
        counts: dict[int, int] = {
            int(image_id): int(n)
            for image_id, n in session.execute(
                select(TagRecord.image_id, func.count(TagRecord.id))
                .where(TagRecord.image_id.in_(chunk), TagRecord.is_rejected.is_(False))
                .group_by(TagRecord.image_id)
            )
        }
        for image in session.scalars(select(ImageRecord).where(ImageRecord.id.in_(chunk))):
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
