"""Manual edits of a project: tags, caption, rating, score, near-duplicate review, with undo and redo.

Each public edit runs in ONE write transaction (saved at once; all or nothing) and returns a frozen
:class:`EditResult` naming the images that changed, so views refresh from what changed, plus the inverse
change for undo. :class:`EditCommand` wraps a result into a do/undo pair that a GUI undo stack drives.

Thread-safety: an `EditService` holds no session and no ORM object; every method opens its own session, so
it may be called from any worker thread (the GUI runs edits on its single "write" pool so they are
serialised). It never touches Qt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from genai_tag_db_tools.normalize import normalize_tag as _library_normalize

from lorairo.database import tag_sql
from lorairo.database.schema import SOURCE_MANUAL
from lorairo.database.tag_repository import (
    LINK_PENDING,
    LINK_REVIEWED,
    MANUAL_SCORE_MAX,
    MANUAL_SCORE_MIN,
    Change,
    ChangeSet,
    DeleteTags,
    EditRepository,
    GroupMember,
    InsertTags,
    NearDuplicateGroup,
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
from lorairo.exceptions import LoRAIroException
from lorairo.services import live_tag_index
from lorairo.services.changes import Changes
from lorairo.services.id_text import sorted_distinct
from lorairo.services.image_details import (
    CaptionInfo,
    FailureInfo,
    ImageDetails,
    RatingInfo,
    ScoreInfo,
    TagCount,
    TagInfo,
    load_details,
    load_tag_counts,
)
from lorairo.services.project_service import Project

RATING_LABELS = ("general", "sensitive", "questionable", "explicit")
#: Longest tag accepted from the user: longer text is a pasted sentence, not a tag (captions hold sentences).
MAX_TAG_LENGTH = 200
#: sd-scripts' keep-tokens separator: inside a tag it would split the exported caption line.
KEEP_SEPARATOR = "|||"

#: Looks up categories of tags (display form -> category); may return a subset. Called in the worker.
Categorizer = Callable[[Sequence[str]], Mapping[str, str]]

__all__ = [
    "LINK_PENDING",
    "LINK_REVIEWED",
    "MANUAL_SCORE_MAX",
    "MANUAL_SCORE_MIN",
    "RATING_LABELS",
    "CaptionInfo",
    "EditCommand",
    "EditError",
    "EditResult",
    "EditService",
    "FailureInfo",
    "GroupMember",
    "ImageDetails",
    "NearDuplicateGroup",
    "RatingInfo",
    "ScoreInfo",
    "TagCount",
    "TagInfo",
    "normalize_tag",
]


class EditError(LoRAIroException):
    """A manual edit was refused (unknown image, empty tag, value out of range); nothing was written."""


def normalize_tag(text: str) -> str:
    """The stored display form of a tag typed by the user (see CONTRACTS.md, "Tag text")."""
    return _library_normalize(text)


@dataclass(frozen=True)
class EditResult:
    """What an edit did. `changed_ids` are the images whose data changed (empty: nothing to do)."""

    description: str
    changed_ids: tuple[int, ...]
    inverse: Change = field(repr=False)

    @property
    def changed(self) -> bool:
        return bool(self.changed_ids)

    def to_changes(self) -> Changes:
        """The broadcast record of this edit (what views reload). An edit and its inverse touch the same kinds of
        data, so the kinds are read off the inverse."""
        return Changes.of(self.changed_ids, **_changed_kinds(self.inverse))


def _changed_kinds(change: Change) -> dict[str, bool]:
    """Which `Changes` flags a repository change sets."""
    if isinstance(change, ChangeSet):
        kinds: dict[str, bool] = {}
        for part in change.parts:
            kinds.update(_changed_kinds(part))
        return kinds
    if isinstance(change, InsertTags | DeleteTags | SetTagsRejected | SetTagPositions):
        return {"tags": True}
    if isinstance(change, SetManualCaptions | SetManualCaptionLists):
        return {"captions": True}
    if isinstance(change, SetManualRatings):
        return {"ratings": True}
    if isinstance(change, SetManualScores):
        return {"scores": True}
    if isinstance(change, SetExcluded):
        return {"exclusion": True}
    if isinstance(change, SetLinkStatus):
        return {"links": True}
    return {}


class EditCommand:
    """A Qt-free undo/redo pair built from the result of an edit that has already been applied.

    `undo` applies the stored inverse and keeps the inverse of that for `redo`, and back. Call the two in
    strict alternation from one thread at a time (the GUI's write pool guarantees it).
    """

    def __init__(self, result: EditResult) -> None:
        self.text = result.description
        self._pending: Change = result.inverse
        self._done = True

    def undo(self, service: EditService) -> EditResult:
        if not self._done:
            raise EditError(f"'{self.text}' is already undone")
        result = service.apply(self._pending, f"Undo {self.text}")
        self._pending, self._done = result.inverse, False
        return result

    def redo(self, service: EditService) -> EditResult:
        if self._done:
            raise EditError(f"'{self.text}' is already done")
        result = service.apply(self._pending, self.text)
        self._pending, self._done = result.inverse, True
        return result


def check_tag_text(tag: str) -> None:
    """Refuse text that cannot be one tag of a caption line (raises EditError naming the tag)."""
    if KEEP_SEPARATOR in tag:
        raise EditError(f"tag {tag[:60]!r} contains '|||', which separates kept tokens in a caption line")
    if "," in tag:
        raise EditError(f"tag {tag[:60]!r} contains a comma, which separates tags: add them one by one")
    if len(tag) > MAX_TAG_LENGTH:
        raise EditError(
            f"tag '{tag[:40]}…' is {len(tag)} characters long (at most {MAX_TAG_LENGTH}); put sentences in the caption"
        )


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _project_edit_result(description: str, done: tag_sql.ProjectTagEdit) -> EditResult:
    """The undo record of a project-wide edit: applied in this order, the inverse un-rejects, re-inserts the
    deleted rows (with their categories and positions) and deletes the new ones."""
    inverse = ChangeSet(
        (
            SetTagsRejected((), False, reject_groups(done.rejected)),
            InsertTags(tag_rows_of(done.deleted)),
            DeleteTags(tuple(done.inserted)),
        )
    )
    return EditResult(description, tuple(sorted(done.touched)), inverse)


class EditService:
    """Manual edits and the reads the details panel needs, for one open project."""

    def __init__(self, project: Project, *, categorize: Categorizer | None = None) -> None:
        self.project = project
        self.categorize = categorize

    # --- core ----------------------------------------------------------------------------------------

    def apply(self, change: Change, description: str) -> EditResult:
        """Apply a change (an inverse from an earlier result) in one write transaction."""
        with self.project.db.session(write=True) as session:
            inverse, touched = EditRepository(session).apply(change)
        return EditResult(description, tuple(sorted(touched)), inverse)

    def _run(self, description: str, build: Callable[[EditRepository], Change]) -> EditResult:
        """Build the change from the current rows and apply it in the same transaction."""
        with self.project.db.session(write=True) as session:
            repo = EditRepository(session)
            change = build(repo)
            if is_empty(change):
                return EditResult(description, (), ChangeSet(()))
            inverse, touched = repo.apply(change)
        return EditResult(description, tuple(sorted(touched)), inverse)

    def _existing(self, repo: EditRepository, image_ids: Iterable[int]) -> list[int]:
        wanted = sorted(set(image_ids))
        if not wanted:
            raise EditError("no images selected")
        found = repo.existing_image_ids(wanted)
        missing = [i for i in wanted if i not in found]
        if missing:
            raise EditError(f"image id(s) not in project '{self.project.name}': {missing[:10]}")
        return wanted

    @staticmethod
    def _clean_tags(tags: Iterable[str]) -> list[str]:
        cleaned = [normalize_tag(tag) for tag in tags]
        if not cleaned or any(not tag for tag in cleaned):
            raise EditError("tag is empty: type a tag name")
        for tag in cleaned:
            check_tag_text(tag)
        return list(dict.fromkeys(cleaned))

    def _vocabulary_categories(self, tags: Sequence[str]) -> dict[str, str]:
        """Categories from the tag vocabulary, looked up BEFORE the write transaction opens (it may be slow)."""
        if self.categorize is None:
            return {}
        return dict(self.categorize(list(tags)))

    # --- tags ----------------------------------------------------------------------------------------

    @staticmethod
    def _add_change(
        rows: Sequence[Any], ids: Sequence[int], tags: Sequence[str], categories: Mapping[str, str | None]
    ) -> InsertTags:
        """Manual rows for `tags` on the images of `ids` that lack them; `rows` are those images' tag rows."""
        active = {(r.image_id, r.tag.lower()) for r in rows if not r.is_rejected}
        # A tag the project already knows (e.g. a rejected model tag) keeps the category it had there.
        known = {r.tag.lower(): r.category for r in rows if r.category}
        new_rows = [
            TagRow(image_id, tag, categories.get(tag) or known.get(tag.lower()), SOURCE_MANUAL)
            for image_id in ids
            for tag in tags
            if (image_id, tag.lower()) not in active
        ]
        return InsertTags(tuple(new_rows))

    @staticmethod
    def _remove_change(rows: Sequence[Any], tags: Sequence[str]) -> ChangeSet:
        wanted = {tag.lower() for tag in tags}
        hits = [r for r in rows if not r.is_rejected and r.tag.lower() in wanted]
        manual = tuple(r.id for r in hits if r.source == SOURCE_MANUAL)
        # Model and sidecar output is kept as rejected so re-annotation / re-import never resurrects it.
        other = tuple(
            dict.fromkeys(TagKey(r.image_id, r.tag, r.source, r.model_id) for r in hits if r.source != SOURCE_MANUAL)
        )
        return ChangeSet((DeleteTags(manual), SetTagsRejected(other, True)))

    def add_tags(self, image_ids: Iterable[int], tags: Iterable[str], *, category: str | None = None) -> EditResult:
        """Add manual tags to every image that does not already have them (any source, case-insensitive)."""
        cleaned = self._clean_tags(tags)
        categories = dict.fromkeys(cleaned, category) if category else self._vocabulary_categories(cleaned)

        def build(repo: EditRepository) -> Change:
            ids = self._existing(repo, image_ids)
            return self._add_change(repo.tag_rows(ids), ids, cleaned, categories)

        return self._run(f"Add {', '.join(cleaned)}", build)

    def remove_tags(self, image_ids: Iterable[int], tags: Iterable[str]) -> EditResult:
        """Remove tags: manual rows are deleted, model / sidecar rows are marked rejected."""
        cleaned = self._clean_tags(tags)

        def build(repo: EditRepository) -> Change:
            return self._remove_change(repo.tag_rows(self._existing(repo, image_ids)), cleaned)

        return self._run(f"Remove {', '.join(cleaned)}", build)

    def rename_tag(self, image_ids: Iterable[int], old: str, new: str) -> EditResult:
        """Replace tag `old` by the manual tag `new` on every image that has `old` (batch "replace" too)."""
        old_tag, new_tag = self._clean_tags([old])[0], self._clean_tags([new])[0]
        if old_tag == new_tag:
            raise EditError(f"'{old_tag}' is already called that")
        categories: dict[str, str | None] = {**self._vocabulary_categories([new_tag])}

        def build(repo: EditRepository) -> Change:
            ids = self._existing(repo, image_ids)
            rows = repo.tag_rows(ids, [old, old_tag, new_tag])  # only these tags' rows decide the change
            having = sorted({r.image_id for r in rows if not r.is_rejected and r.tag.lower() == old_tag.lower()})
            old_category = next((r.category for r in rows if r.tag.lower() == old_tag.lower() and r.category), None)
            if not having:
                return ChangeSet(())
            if old_tag.lower() == new_tag.lower():  # a change of case only: remove first, then add afresh
                return ChangeSet(
                    (
                        self._remove_change(rows, [old_tag]),
                        InsertTags(tuple(TagRow(i, new_tag, old_category, SOURCE_MANUAL) for i in having)),
                    )
                )
            add = self._add_change(rows, having, [new_tag], categories)
            if old_category and add.rows and all(row.category is None for row in add.rows):
                add = InsertTags(tuple(TagRow(r.image_id, r.tag, old_category, r.source) for r in add.rows))
            return ChangeSet((self._remove_change(rows, [old_tag]), add))

        return self._run(f"Rename {old_tag} to {new_tag}", build)

    def images_with_tag(self, tag: str) -> list[int]:
        """Every image of the project carrying `tag` (active; any source; case-insensitive)."""
        with self.project.db.session() as session:
            conn = tag_sql.raw_connection(session)
            return tag_sql.images_with(conn, tag_sql.find_texts(conn, {tag, normalize_tag(tag)}))

    def rename_everywhere(self, old: str, new: str) -> EditResult:
        """Rename (or merge, when `new` exists) `old` on every image of the project: one undoable step.

        Done by SQLite in a few set statements (database/tag_sql.py): 65k images must not stall the GUI."""
        old_tag, new_tag = self._clean_tags([old])[0], self._clean_tags([new])[0]
        if old_tag == new_tag:
            raise EditError(f"'{old_tag}' is already called that")
        vocabulary = self._vocabulary_categories([new_tag]).get(new_tag)
        with self.project.db.session(write=True) as session:
            conn = tag_sql.raw_connection(session)
            old_texts = tag_sql.find_texts(conn, {old, old_tag})
            if not old_texts:  # spellings are looked up on live rows: none means no image carries it
                raise EditError(f"no image has the tag '{old_tag}'")
            new_texts = tag_sql.find_texts(conn, {new_tag})
            category = vocabulary or tag_sql.first_category(conn, new_texts) or tag_sql.first_category(conn, old_texts)
            done = tag_sql.rename_everywhere(conn, old_texts, new_tag, new_texts, category)
        return _project_edit_result(f"Rename {old_tag} to {new_tag}", done)

    def delete_everywhere(self, tag: str) -> EditResult:
        """Remove `tag` from every image of the project: one undoable step."""
        cleaned = self._clean_tags([tag])[0]
        with self.project.db.session(write=True) as session:
            conn = tag_sql.raw_connection(session)
            done = tag_sql.remove_everywhere(conn, tag_sql.find_texts(conn, {tag, cleaned}))
        if not done.touched:
            raise EditError(f"no image has the tag '{cleaned}'")
        return _project_edit_result(f"Delete {cleaned} from {_plural(len(done.touched), 'image')}", done)

    def set_tag_order(self, image_id: int, tags: Sequence[str]) -> EditResult:
        """Place the image's tags in this order in its caption (within export's category order); tags left out
        of `tags` follow, in export's default order. Every row of a tag (any source) gets its place."""
        # Rows are matched as written and as normalised: sidecar / model rows may keep underscores.
        place: dict[str, int] = {}
        for n, tag in enumerate(tags):
            place.setdefault(tag.lower(), n)
            place.setdefault(normalize_tag(tag).lower(), n)

        def build(repo: EditRepository) -> Change:
            self._existing(repo, [image_id])
            rows = repo.tag_rows([image_id])
            return SetTagPositions(
                tuple((int(r.id), place.get(r.tag.lower(), place.get(normalize_tag(r.tag).lower()))) for r in rows)
            )

        return self._run("Reorder tags", build)

    def set_excluded(self, image_ids: Iterable[int], excluded: bool) -> EditResult:
        """Leave images out of exports (or take them back in)."""

        def build(repo: EditRepository) -> Change:
            return SetExcluded(tuple((i, excluded) for i in self._existing(repo, image_ids)))

        return self._run("Exclude from export" if excluded else "Include in export", build)

    # --- caption / rating / score --------------------------------------------------------------------

    def set_caption(self, image_id: int, text: str) -> EditResult:
        """Set the manual caption (model captions are kept); blank text removes the manual caption."""
        cleaned = text.strip()

        def build(repo: EditRepository) -> Change:
            self._existing(repo, [image_id])
            current = repo.manual_captions(image_id)
            if len(current) > 1:  # a list of captions: this text replaces the first, the others stay
                wanted = tuple(dict.fromkeys([cleaned, *current[1:]] if cleaned else current[1:]))
                return SetManualCaptionLists(((image_id, wanted),)) if list(wanted) != current else ChangeSet(())
            if repo.manual_caption(image_id) == (cleaned or None):
                return ChangeSet(())
            return SetManualCaptions(((image_id, cleaned or None),))

        return self._run("Edit caption", build)

    def set_captions(self, image_id: int, texts: Sequence[str]) -> EditResult:
        """Set the image's manual captions, in this order (blank ones and repeats dropped; model and sidecar
        captions are kept). Export writes them one per line where the format holds several."""
        cleaned = list(dict.fromkeys(t.strip() for t in texts if t.strip()))

        def build(repo: EditRepository) -> Change:
            self._existing(repo, [image_id])
            if repo.manual_captions(image_id) == cleaned:
                return ChangeSet(())
            return SetManualCaptionLists(((image_id, tuple(cleaned)),))

        return self._run("Edit captions", build)

    def set_rating(self, image_ids: Iterable[int], label: str | None) -> EditResult:
        """Set (or clear with None) the manual rating of images."""
        if label is not None and label not in RATING_LABELS:
            raise EditError(f"rating {label!r} is not one of {', '.join(RATING_LABELS)}")

        def build(repo: EditRepository) -> Change:
            return SetManualRatings(tuple((i, label) for i in self._existing(repo, image_ids)))

        return self._run(f"Set rating {label}" if label else "Clear rating", build)

    def set_score(self, image_ids: Iterable[int], value: float | None) -> EditResult:
        """Set (or remove with None) the manual score, 1 to 10."""
        if value is not None and not MANUAL_SCORE_MIN <= value <= MANUAL_SCORE_MAX:
            raise EditError(f"score {value} is outside {MANUAL_SCORE_MIN:g}-{MANUAL_SCORE_MAX:g}")

        def build(repo: EditRepository) -> Change:
            return SetManualScores(tuple((i, value) for i in self._existing(repo, image_ids)))

        return self._run(f"Set score {value:g}" if value is not None else "Clear score", build)

    # --- reads for the panel -------------------------------------------------------------------------

    def get_image_details(self, image_id: int) -> ImageDetails:
        """Everything the details panel shows about one image."""
        with self.project.db.session() as session:
            details = load_details(session, self.project.root, image_id)
        if details is None:
            raise EditError(f"image {image_id} is not in project '{self.project.name}'")
        return details

    def tag_counts(self, image_ids: Iterable[int]) -> list[TagCount]:
        """Active tags over a selection with how many of the images carry each (for batch editing)."""
        import numpy as np

        # numpy sorts without the GIL: sorted(set(...)) over a 1M-image Ctrl+A held it for ~0.2 s in one C call,
        # freezing the GUI thread while this ran on a worker. A grid selection converts without a copy.
        ids = sorted_distinct(
            np.asarray(image_ids if isinstance(image_ids, Sequence) else list(image_ids), dtype=np.int64)
        )
        if len(ids) >= live_tag_index.BUILD_FROM:
            # A large selection (Ctrl+A over 1M images) is counted off the in-memory tag index: the chunked IN
            # queries below built a million Python ints and millions of rows on this worker in short GIL-holding
            # steps, and the GUI thread waited for the GIL (stalls of 100-300 ms, docs/benchmarks.md "Ctrl+A at
            # 1M"). Counts are exact; a tag's category is then its first row's in the project (the tags panel's).
            from lorairo.services.tag_stats_service import TagStatsService

            tags = TagStatsService(self.project.db).tags_of_selection(ids)
            if tags is not None:
                return [TagCount(t.tag, t.category, t.count) for t in tags]
        with self.project.db.session() as session:
            return load_tag_counts(session, ids.tolist())  # sqlite binds Python ints, not numpy's

    # --- near-duplicates -----------------------------------------------------------------------------

    def near_duplicate_groups(self, *, include_reviewed: bool = False) -> list[NearDuplicateGroup]:
        """Connected groups of near-duplicate links (pending ones unless `include_reviewed`)."""
        with self.project.db.session() as session:
            return EditRepository(session).near_duplicate_groups(include_reviewed=include_reviewed)

    def resolve_group(self, keep_id: int, exclude_ids: Iterable[int]) -> EditResult:
        """Keep one image, exclude the others from export, and mark the links between them reviewed."""
        excluded = sorted(set(exclude_ids) - {keep_id})
        if not excluded:
            raise EditError("choose at least one image to exclude besides the one you keep")

        def build(repo: EditRepository) -> Change:
            ids = self._existing(repo, [keep_id, *excluded])
            links = repo.links_among(set(ids))
            return ChangeSet(
                (
                    SetExcluded(((keep_id, False), *((i, True) for i in excluded))),
                    SetLinkStatus(tuple((link.id, LINK_REVIEWED) for link in links)),
                )
            )

        return self._run(f"Keep 1, exclude {_plural(len(excluded), 'near-duplicate')}", build)

    def dismiss_group(self, image_ids: Iterable[int]) -> EditResult:
        """Mark a group reviewed without excluding anything ("these are not duplicates")."""

        def build(repo: EditRepository) -> Change:
            ids = self._existing(repo, image_ids)
            links = repo.links_among(set(ids))
            return SetLinkStatus(tuple((link.id, LINK_REVIEWED) for link in links))

        return self._run("Keep all near-duplicates", build)
