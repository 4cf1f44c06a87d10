"""What a write changed: the one record every write operation returns and the GUI broadcasts (Anki's pattern).

Every service call that writes (edits, undo / redo, import batches, annotation batches, Batch API imports,
tag renames, exclusion) returns or reports a :class:`Changes`. The GUI hands it to
``ProjectSession.notify(changes)``, which emits one ``changed`` signal; the grid, the details panel, tag
counts and filters each decide from the flags what to reload. Nothing calls a view directly.

Qt-free and immutable, so it can cross threads and processes (it pickles).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Changes:
    """Images touched by one write and which kinds of data changed on them.

    ``image_ids`` are images whose data changed; ``added`` / ``removed`` are images new in or gone from the
    project (an added image is not repeated in ``image_ids``). The flags say what changed so a view can skip
    work: the tag counts panel needs ``tags``, the grid's overlays need most of them.
    """

    image_ids: frozenset[int] = frozenset()
    added: frozenset[int] = frozenset()
    removed: frozenset[int] = frozenset()
    tags: bool = False
    captions: bool = False
    scores: bool = False
    ratings: bool = False
    exclusion: bool = False
    annotations: bool = False  # model runs or annotation failures recorded
    links: bool = False  # near-duplicate links or their review status

    @classmethod
    def of(
        cls,
        ids: Iterable[int] = (),
        *,
        tags: bool = False,
        captions: bool = False,
        scores: bool = False,
        ratings: bool = False,
        exclusion: bool = False,
        annotations: bool = False,
        links: bool = False,
    ) -> Changes:
        """``Changes.of([1, 2], tags=True)``: the common case of edited images."""
        return cls(
            image_ids=frozenset(ids),
            tags=tags,
            captions=captions,
            scores=scores,
            ratings=ratings,
            exclusion=exclusion,
            annotations=annotations,
            links=links,
        )

    @classmethod
    def images_added(cls, ids: Iterable[int]) -> Changes:
        """Images new in the project (an import batch): everything about them is new."""
        return cls(added=frozenset(ids), tags=True, captions=True, scores=True, ratings=True)

    def is_empty(self) -> bool:
        return not (self.image_ids or self.added or self.removed)

    @property
    def all_ids(self) -> frozenset[int]:
        """Every image a view showing images may need to reload or drop."""
        return self.image_ids | self.added | self.removed

    def merge(self, other: Changes) -> Changes:
        """One record for two writes (a view refreshes once for both)."""
        return Changes(
            image_ids=self.image_ids | other.image_ids,
            added=self.added | other.added,
            removed=self.removed | other.removed,
            tags=self.tags or other.tags,
            captions=self.captions or other.captions,
            scores=self.scores or other.scores,
            ratings=self.ratings or other.ratings,
            exclusion=self.exclusion or other.exclusion,
            annotations=self.annotations or other.annotations,
            links=self.links or other.links,
        )
