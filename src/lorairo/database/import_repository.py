"""Database side of imports: runs, per-file outcomes, new images with sources, sidecar tags, near-duplicate links.

Bound to one Session like the other repositories. The import service is the only writer and calls these
inside one write session per batch, so a batch's rows appear together or not at all.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from genai_tag_db_tools.normalize import tag_key
from sqlalchemy import insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from lorairo.database.chunks import chunked
from lorairo.database.schema import (
    PHASH_BANDS,
    SOURCE_SIDECAR,
    CaptionRecord,
    ImageRecord,
    ImageSourceRecord,
    ImportOutcomeRecord,
    ImportRunRecord,
    NearDuplicateRecord,
    SidecarFileRecord,
    TagRecord,
    phash_band_sql,
    utcnow,
)

RUN_RUNNING = "running"
RUN_COMPLETED = "completed"
RUN_CANCELLED = "cancelled"
RUN_FAILED = "failed"
RUN_INTERRUPTED = "interrupted"  # found still "running" by a later import: the process died


@dataclass(frozen=True)
class SourceStamp:
    """What is registered for one source path: the image's hash and, for its first path, size and mtime."""

    image_id: int
    hash_value: str
    file_size: int
    file_mtime: float | None
    is_original: bool  # the path the image was first imported from (the one size/mtime belong to)


class ImportRepository:
    """Reads and writes of an import run."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # --- runs -----------------------------------------------------------------------------------------

    def start_run(self, roots: Sequence[str]) -> int:
        # ensure_ascii: a root that is not valid UTF-8 (surrogate-escaped) round-trips as a \\udcXX escape.
        run = ImportRunRecord(roots_json=json.dumps(list(roots)), status=RUN_RUNNING)
        self.session.add(run)
        self.session.flush()
        return run.id

    def mark_interrupted_runs(self) -> int:
        """Runs left "running" by a process that died (call only while holding the import lock)."""
        result = self.session.execute(
            update(ImportRunRecord)
            .where(ImportRunRecord.status == RUN_RUNNING)
            .values(status=RUN_INTERRUPTED, finished_at=utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)

    def last_run_status(self) -> str | None:
        """Status of the newest run (None before the first import)."""
        stmt = select(ImportRunRecord.status).order_by(ImportRunRecord.id.desc()).limit(1)
        return self.session.execute(stmt).scalar_one_or_none()

    def finish_run(self, run_id: int, status: str, total_files: int) -> None:
        self.session.execute(
            update(ImportRunRecord)
            .where(ImportRunRecord.id == run_id)
            .values(status=status, total_files=total_files, finished_at=utcnow())
        )

    # --- what is registered ---------------------------------------------------------------------------

    def stored_files(self) -> tuple[set[str], set[str]]:
        """(every `file_path`, every `hash_value`) of the project, for the orphan sweep."""
        rows = self.session.execute(select(ImageRecord.file_path, ImageRecord.hash_value))
        paths: set[str] = set()
        hashes: set[str] = set()
        for file_path, hash_value in rows:
            paths.add(file_path)
            hashes.add(hash_value)
        return paths, hashes

    def referenced_files(self, relpaths: Collection[str]) -> set[str]:
        """Those of `relpaths` (project-relative, journaled by a writer) that a row refers to: an image's
        `file_path`, or a thumbnail named after an image's hash (for the orphan sweep)."""
        images = [p for p in relpaths if p.startswith("images/")]
        thumbs: dict[str, list[str]] = {}
        for path in relpaths:
            if path.startswith("thumbnails/"):
                thumbs.setdefault(path.rpartition("/")[2].split(".", 1)[0], []).append(path)
        found: set[str] = set()
        for chunk in chunked(images):
            found.update(self.session.scalars(select(ImageRecord.file_path).where(ImageRecord.file_path.in_(chunk))))
        for chunk in chunked(list(thumbs)):
            for hash_value in self.session.scalars(
                select(ImageRecord.hash_value).where(ImageRecord.hash_value.in_(chunk))
            ):
                found.update(thumbs[hash_value])
        return found

    def source_stamps(self, paths: Collection[str]) -> dict[str, SourceStamp]:
        """Source path -> what is registered for it, for `paths` only (the files this run found): looked up
        by the source-path index in chunks, so an import of 300 files into a 1M-image project reads 300 rows,
        not a million (bench/scale.py)."""
        stamps: dict[str, SourceStamp] = {}
        for chunk in chunked(sorted(set(paths))):
            stmt = (
                select(
                    ImageSourceRecord.source_path,
                    ImageRecord.id,
                    ImageRecord.hash_value,
                    ImageRecord.file_size,
                    ImageRecord.file_mtime,
                    ImageRecord.original_path,
                )
                .join(ImageRecord, ImageRecord.id == ImageSourceRecord.image_id)
                .where(ImageSourceRecord.source_path.in_(chunk))
            )
            for source, image_id, hash_value, size, mtime, original in self.session.execute(stmt):
                stamps[source] = SourceStamp(image_id, hash_value, size, mtime, source == original)
        return stamps

    def phash_arrays(self, below_id: int | None = None) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(image ids, signed pHashes) of every image (with an id below `below_id` when given) as int64
        arrays in id order, for the near-duplicate scan. Read through the DB-API cursor straight into numpy:
        no tuple or ORM row per image (a 1M-image project loads in a fraction of a second and holds 16 MB)."""
        raw = self.session.connection().connection.driver_connection
        sql = "SELECT id, phash_int FROM images" + (" WHERE id < ?" if below_id is not None else "") + " ORDER BY id"
        cursor = raw.execute(sql, () if below_id is None else (below_id,))  # type: ignore[union-attr]
        try:
            flat = np.fromiter((v for row in cursor for v in row), dtype=np.int64)
        finally:
            cursor.close()
        pairs = flat.reshape(-1, 2)
        return pairs[:, 0].copy(), pairs[:, 1].copy()

    def phash_band_candidates(
        self, probes: Sequence[Sequence[int]], below_id: int, limit: int
    ) -> list[tuple[int, int]]:
        """(image id, signed pHash) of the images with an id below `below_id` whose pHash band ``b`` takes one of
        the values ``probes[b]`` (one list per band of `PHASH_BANDS`), at most `limit` rows. An image matching
        on several bands comes back once per band. Each band is read through its expression index, so the cost
        follows the number of probes and matches, not the size of the project (bench/scale.py)."""
        if len(probes) != len(PHASH_BANDS):
            raise ValueError(f"{len(probes)} probe lists for {len(PHASH_BANDS)} pHash bands")
        parts = [
            f"SELECT id, phash_int FROM images WHERE {phash_band_sql(shift, width)} IN ({', '.join('?' * len(values))})"
            f" AND id < ?"
            for (shift, width), values in zip(PHASH_BANDS, probes, strict=True)
            if values
        ]
        if not parts:
            return []
        params: list[int] = []
        for values in probes:
            if values:
                params.extend(values)
                params.append(below_id)
        raw = self.session.connection().connection.driver_connection
        params.append(limit)
        cursor = raw.execute(" UNION ALL ".join(parts) + " LIMIT ?", params)  # type: ignore[union-attr]
        try:
            return cursor.fetchall()
        finally:
            cursor.close()

    def phash_rows(self) -> list[tuple[int, int]]:
        """(image id, signed pHash) of every image (tests and small tools; imports use `phash_arrays`)."""
        ids, hashes = self.phash_arrays()
        return list(zip(ids.tolist(), hashes.tolist(), strict=True))

    def ids_by_hash(self, hashes: Sequence[str]) -> dict[str, tuple[int, str]]:
        """SHA-256 -> (image id, file_path) for the hashes already registered (chunked IN queries)."""
        found: dict[str, tuple[int, str]] = {}
        for chunk in chunked(hashes):
            stmt = select(ImageRecord.hash_value, ImageRecord.id, ImageRecord.file_path).where(
                ImageRecord.hash_value.in_(chunk)
            )
            for hash_value, image_id, file_path in self.session.execute(stmt):
                found[hash_value] = (image_id, file_path)
        return found

    # --- writes ---------------------------------------------------------------------------------------

    def insert_images(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Insert image rows (one multi-row INSERT ... RETURNING) and their first sources; ids in row order."""
        if not rows:
            return []
        now = utcnow()
        stmt = insert(ImageRecord).returning(ImageRecord.id, sort_by_parameter_order=True)
        ids = list(self.session.scalars(stmt, [{"created_at": now, "updated_at": now, **row} for row in rows]).all())
        sources = [
            {"image_id": i, "source_path": row["original_path"], "seen_at": now}
            for i, row in zip(ids, rows, strict=False)
        ]
        self.session.execute(insert(ImageSourceRecord), sources)
        return ids

    def add_sources(self, pairs: Iterable[tuple[int, str]]) -> None:
        """Record more paths of existing images (idempotent)."""
        wanted = set(pairs)
        if not wanted:
            return
        image_ids = {image_id for image_id, _path in wanted}
        existing = set(
            self.session.execute(
                select(ImageSourceRecord.image_id, ImageSourceRecord.source_path).where(
                    ImageSourceRecord.image_id.in_(image_ids)
                )
            )
        )
        rows = [{"image_id": i, "source_path": p, "seen_at": utcnow()} for i, p in sorted(wanted - existing)]
        if rows:
            self.session.execute(insert(ImageSourceRecord), rows)

    def sidecar_stamps(self, paths: Collection[str]) -> dict[str, tuple[int, float | None]]:
        """Sidecar path -> (size, mtime) as last read, for the re-import check of unchanged images: for
        `paths` only (the sidecars this run found), by the path index, not every sidecar of the project."""
        found: dict[str, tuple[int, float | None]] = {}
        for chunk in chunked(sorted(set(paths))):
            stmt = select(SidecarFileRecord.path, SidecarFileRecord.file_size, SidecarFileRecord.file_mtime).where(
                SidecarFileRecord.path.in_(chunk)
            )
            found.update({path: (size, mtime) for path, size, mtime in self.session.execute(stmt)})
        return found

    def tracked_sidecars(self, image_ids: Iterable[int]) -> dict[tuple[int, str], tuple[int, float | None]]:
        """(image id, sidecar path) -> (size, mtime) as last read, for these images."""
        found: dict[tuple[int, str], tuple[int, float | None]] = {}
        for chunk in chunked(sorted(set(image_ids))):
            record = SidecarFileRecord
            stmt = select(record.image_id, record.path, record.file_size, record.file_mtime).where(
                record.image_id.in_(chunk)
            )
            for image_id, path, size, mtime in self.session.execute(stmt):
                found[(image_id, path)] = (size, mtime)
        return found

    def record_sidecar_files(self, rows: Iterable[tuple[int, str, int, float | None]]) -> None:
        """Remember (image id, sidecar path, size, mtime) as read now (insert or update)."""
        now = utcnow()
        values = {
            (image_id, path): {
                "image_id": image_id,
                "path": path,
                "file_size": size,
                "file_mtime": mtime,
                "read_at": now,
            }
            for image_id, path, size, mtime in rows
        }
        if not values:
            return
        stmt = sqlite_insert(SidecarFileRecord)
        stmt = stmt.on_conflict_do_update(
            index_elements=["image_id", "path"],
            set_={"file_size": stmt.excluded.file_size, "file_mtime": stmt.excluded.file_mtime, "read_at": now},
        )
        self.session.execute(stmt, list(values.values()))

    def merge_sidecars(
        self,
        items: Iterable[tuple[int, Sequence[str], str | None]],
        categories: Mapping[str, str] | None = None,
    ) -> tuple[int, int]:
        """Add sidecar tags and captions, provenance "sidecar": (image id, tags, caption).

        A tag the image already has under the same key (case, underscores: `tags.tag_key`) and from any source is
        not added again; that
        includes tags the user removed (kept as rejected rows) and the old name of a tag the user renamed, so a
        re-import or a duplicate's sidecar never brings back what the user took away. A caption is added
        unless the image already has that exact text.

        Returns:
            (tags added, captions added).
        """
        wanted = [(image_id, tuple(names), caption) for image_id, names, caption in items if names or caption]
        if not wanted:
            return 0, 0
        ids = sorted({image_id for image_id, _names, _caption in wanted})
        have: set[tuple[int, str]] = set()
        texts: set[tuple[int, str]] = set()
        for chunk in chunked(ids):
            tag_rows = self.session.execute(
                select(TagRecord.image_id, TagRecord.tag_key).where(TagRecord.image_id.in_(chunk))
            )
            have.update((image_id, tag) for image_id, tag in tag_rows)
            caption_rows = self.session.execute(
                select(CaptionRecord.image_id, CaptionRecord.text).where(CaptionRecord.image_id.in_(chunk))
            )
            texts.update((image_id, text) for image_id, text in caption_rows)
        now = utcnow()
        lookup = categories or {}
        tags: list[dict[str, Any]] = []
        captions: list[dict[str, Any]] = []
        for image_id, names, caption in wanted:
            for name in names:
                key = (image_id, str(tag_key(name)))
                if key in have:
                    continue
                have.add(key)
                tags.append(
                    {
                        "image_id": image_id,
                        "tag": name,
                        "category": lookup.get(name),
                        "source": SOURCE_SIDECAR,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            if caption and (image_id, caption) not in texts:
                texts.add((image_id, caption))
                captions.append(
                    {
                        "image_id": image_id,
                        "text": caption,
                        "source": SOURCE_SIDECAR,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
        if tags:
            self.session.execute(insert(TagRecord), tags)
        if captions:
            self.session.execute(insert(CaptionRecord), captions)
        return len(tags), len(captions)

    def link_near_duplicates(self, links: Iterable[tuple[int, int, int]]) -> None:
        """Link new images to the images they nearly duplicate: (image id, match id, distance)."""
        now = utcnow()
        rows = [
            {"image_id": i, "match_image_id": m, "distance": d, "status": "pending", "created_at": now}
            for i, m, d in links
            if i != m
        ]
        if rows:
            self.session.execute(insert(NearDuplicateRecord), rows)

    def add_outcomes(self, run_id: int, outcomes: Iterable[tuple[str, str, str | None, int | None]]) -> None:
        """Store (source path, outcome, reason, image id) rows of one batch."""
        now = utcnow()
        rows = [
            {"run_id": run_id, "source_path": p, "outcome": o, "reason": r, "image_id": i, "created_at": now}
            for p, o, r, i in outcomes
        ]
        if rows:
            self.session.execute(insert(ImportOutcomeRecord), rows)
