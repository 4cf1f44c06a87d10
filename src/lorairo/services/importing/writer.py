"""The single database writer of an import: turns a batch of worker results into rows, in one transaction.

Files are already in place when this runs (workers wrote them), so a committed row always has its files.
Exact duplicates only add a source path; their copy of the original, if it got a name of its own, is
removed after the commit. New images are checked against the earlier images of the project (the pHash band
indexes, or an in-memory scan for large thresholds: `near_duplicates`) and linked to their near-duplicates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger
from sqlalchemy import insert

from lorairo.database.engine import Database
from lorairo.database.import_repository import ImportRepository
from lorairo.database.schema import ImageQualityRecord
from lorairo.services.importing.near_duplicates import NearDuplicateFinder
from lorairo.services.importing.summary import (
    OUTCOME_DUPLICATE,
    OUTCOME_IMPORTED,
    OUTCOME_NEAR_DUPLICATE,
    OUTCOME_SKIPPED,
    REASON_ALREADY_IMPORTED,
    FileOutcome,
)
from lorairo.services.importing.worker import REASON_DISK_FULL, STATUS_OK, STATUS_UNCHANGED, FileResult
from lorairo.storage.names import display_name
from lorairo.storage.sidecars import Sidecar, SidecarNote

#: Display tag -> category for the tags the vocabulary knows (may return a subset).
Categorizer = Callable[[Sequence[str]], Mapping[str, str]]


_SAME_STAMP = "same path, size and time"


@dataclass(frozen=True)
class Unchanged:
    """A file skipped before hashing (registered, same size and mtime); `sidecar` is set when one of its
    sidecars changed since it was last read (the runner read it again)."""

    path: str
    image_id: int
    sidecar: Sidecar | None = None


@dataclass(frozen=True)
class _SidecarCandidate:
    image_id: int
    sidecar: Sidecar
    new_image: bool
    reimport: bool = False  # a path imported before: its sidecars' edits count as changed


class BatchWriter:
    """Writes batches of one run; `finder` finds each new image's near-duplicates among the earlier images."""

    def __init__(
        self,
        db: Database,
        project_root: Path,
        run_id: int,
        finder: NearDuplicateFinder,
        categorize: Categorizer | None = None,
    ) -> None:
        self.db = db
        self.project_root = project_root
        self.run_id = run_id
        self.finder = finder
        self.categorize = categorize
        self.sidecar_notes: list[SidecarNote] = []
        self.sidecars_changed = 0
        self.sidecar_tags_added = 0
        # Images already in the project (or earlier in this run) that took a sidecar: a duplicate's, or one
        # edited since the last import. Their tags / captions may have changed: the GUI reloads them.
        self.sidecar_merged_ids: set[int] = set()
        self.disk_full: str | None = None  # the first "disk full at PATH" a worker reported

    def write(self, results: Sequence[FileResult], unchanged: Sequence[Unchanged]) -> list[FileOutcome]:
        """Commit one batch and return its outcomes in input order (fast-skipped paths last).

        Args:
            results: What the workers returned for this batch.
            unchanged: Files skipped before hashing (registered, same size and mtime).
        """
        for result in results:
            for message in result.warnings:  # Pillow's "Corrupt EXIF data" and the like: the log, not stderr
                logger.warning("{}: {}", display_name(result.path), message)
            if result.reason == REASON_DISK_FULL and self.disk_full is None:
                self.disk_full = result.detail
        # Looked up before the write transaction: opening the vocabulary must not hold the project's write lock.
        names = {tag for r in results for tag in r.sidecar.tags}
        names.update(tag for item in unchanged if item.sidecar is not None for tag in item.sidecar.tags)
        categories = self._categories(sorted(names))
        orphans: list[Path] = []
        with self.db.session(write=True) as session:
            repo = ImportRepository(session)
            hashes = sorted({r.hash_value for r in results if r.status in (STATUS_OK, STATUS_UNCHANGED)})
            known = repo.ids_by_hash(hashes)  # hash -> (image id, file_path)
            # Pass 1: the first file of each unseen hash becomes a new image, inserted in one statement.
            new: dict[str, FileResult] = {}
            for result in results:
                if result.status == STATUS_OK and result.hash_value not in known:
                    new.setdefault(result.hash_value, result)
            ids = repo.insert_images([_image_row(r) for r in new.values()])
            new_ids = dict(zip(new, ids, strict=True))
            measured = [(new_ids[h], r.quality) for h, r in new.items() if r.quality is not None]
            if measured:
                session.execute(insert(ImageQualityRecord), [{"image_id": i, **m.as_row()} for i, m in measured])
            # Pass 2: outcomes in input order; near-duplicates are searched in input order too, so a
            # look-alike later in the batch links to the earlier one.
            batch = _BatchRows()
            outcomes = [self._one(repo, result, known, new, new_ids, batch, orphans) for result in results]
            outcomes.extend(
                FileOutcome(item.path, OUTCOME_SKIPPED, REASON_ALREADY_IMPORTED, _SAME_STAMP, item.image_id)
                for item in unchanged
            )
            batch.sidecars.extend(
                _SidecarCandidate(item.image_id, item.sidecar, False, True)
                for item in unchanged
                if item.sidecar is not None
            )
            repo.add_sources(batch.sources)
            repo.link_near_duplicates(batch.links)
            self._merge_sidecars(repo, batch.sidecars, categories)
            repo.add_outcomes(self.run_id, ((o.path, o.outcome, o.db_reason, o.image_id) for o in outcomes))
        for path in orphans:  # after the commit: if we die before, the next run's sweep removes them
            path.unlink(missing_ok=True)
        return outcomes

    def _one(
        self,
        repo: ImportRepository,
        result: FileResult,
        known: dict[str, tuple[int, str]],
        new: dict[str, FileResult],
        new_ids: dict[str, int],
        batch: _BatchRows,
        orphans: list[Path],
    ) -> FileOutcome:
        path = result.path
        if result.status == STATUS_UNCHANGED:
            if result.hash_value not in known:  # deleted from the project while this import ran
                return FileOutcome(path, OUTCOME_SKIPPED, "removed meanwhile", "import it again to re-add")
            image_id = known[result.hash_value][0]
            batch.sources.append((image_id, path))
            batch.sidecars.append(_SidecarCandidate(image_id, result.sidecar, False, True))
            return FileOutcome(path, OUTCOME_SKIPPED, REASON_ALREADY_IMPORTED, "content unchanged", image_id)
        if result.status != STATUS_OK:
            return FileOutcome(path, OUTCOME_SKIPPED, result.reason, result.detail)
        if new.get(result.hash_value) is not result:  # an exact duplicate, of the project or of this batch
            image_id, kept_path = known.get(result.hash_value) or (
                new_ids[result.hash_value],
                new[result.hash_value].stored_path,
            )
            batch.sources.append((image_id, path))
            # The duplicate's sidecar tags and caption belong to the kept image: merged, never dropped.
            batch.sidecars.append(_SidecarCandidate(image_id, result.sidecar, False))
            if result.stored_path != kept_path and not Path(result.stored_path).is_absolute():
                orphans.append(self.project_root / result.stored_path)
            return FileOutcome(path, OUTCOME_DUPLICATE, None, f"same content as image #{image_id}", image_id)
        image_id = new_ids[result.hash_value]
        batch.sidecars.append(_SidecarCandidate(image_id, result.sidecar, True))
        # The whole batch is inserted already: the finder only looks below this id (the project, and the
        # images earlier in this run), so a look-alike links to the earlier image, never the other way.
        matches = self.finder.find(repo, image_id, result.phash_int)
        if not matches:
            return FileOutcome(path, OUTCOME_IMPORTED, None, None, image_id)
        batch.links.extend((image_id, m.image_id, m.distance) for m in matches)
        best = matches[0]
        detail = f"looks like image #{best.image_id} (pHash distance {best.distance})"
        return FileOutcome(path, OUTCOME_NEAR_DUPLICATE, None, detail, image_id)

    def _merge_sidecars(
        self, repo: ImportRepository, candidates: Sequence[_SidecarCandidate], categories: Mapping[str, str]
    ) -> None:
        """Merge what sidecars said into their images and remember each sidecar's size and mtime.

        New images take everything. A known image (duplicate, re-import) takes its sidecars only when one of
        them is new to it or changed since it was last read; `merge_sidecars` then adds only tags the image
        does not have in any form, so tags the user removed or renamed stay removed or renamed.
        """
        candidates = [c for c in candidates if c.sidecar.files]
        if not candidates:
            return
        tracked = repo.tracked_sidecars(c.image_id for c in candidates if not c.new_image)
        merge: list[_SidecarCandidate] = []
        stamps: dict[tuple[int, str], tuple[int, float | None]] = {}
        for candidate in candidates:
            image_id = candidate.image_id
            changed = [f for f in candidate.sidecar.files if tracked.get((image_id, f.path)) != (f.size, f.mtime)]
            if not candidate.new_image and not changed:
                continue
            if candidate.reimport:  # edited, or new beside an image imported before (a duplicate's is neither)
                self.sidecars_changed += len(changed)
            merge.append(candidate)
            if not candidate.new_image:
                self.sidecar_merged_ids.add(image_id)
            self.sidecar_notes.extend(candidate.sidecar.notes)
            for f in candidate.sidecar.files:
                stamps[(candidate.image_id, f.path)] = (f.size, f.mtime)
        added, _captions = repo.merge_sidecars(
            ((c.image_id, c.sidecar.tags, c.sidecar.caption) for c in merge), categories
        )
        self.sidecar_tags_added += added
        repo.record_sidecar_files((i, p, size, mtime) for (i, p), (size, mtime) in stamps.items())

    def _categories(self, names: Sequence[str]) -> Mapping[str, str]:
        if not names or self.categorize is None:
            return {}
        try:
            return self.categorize(names)
        except Exception as exc:  # a broken vocabulary must not cost the import: tags stay uncategorised
            logger.warning("tag categories unavailable: {}", exc)
            self.categorize = None
            return {}


@dataclass
class _BatchRows:
    """Rows collected while deciding outcomes, inserted in bulk at the end of the batch."""

    sources: list[tuple[int, str]] = field(default_factory=list)
    links: list[tuple[int, int, int]] = field(default_factory=list)
    sidecars: list[_SidecarCandidate] = field(default_factory=list)


def _image_row(result: FileResult) -> dict[str, Any]:
    meta = result.meta
    assert meta is not None  # STATUS_OK results always carry metadata
    return {
        "file_path": result.stored_path,
        "file_name": display_name(Path(result.path).name),  # original_path keeps the exact bytes
        "original_path": result.path,
        "stored_in_project": not Path(result.stored_path).is_absolute(),
        "file_size": result.size,
        "width": meta.width,
        "height": meta.height,
        "format": meta.format,
        "mode": meta.mode,
        "has_alpha": meta.has_alpha,
        "exif_orientation": meta.exif_orientation,
        "file_mtime": result.mtime,
        "hash_value": result.hash_value,
        "phash": result.phash,
        "phash_int": result.phash_int,
        "excluded": False,
    }
