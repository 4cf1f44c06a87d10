"""Quality metrics of a project's images: backfill (`lorairo quality`) and the Problems view's counts.

Images imported before quality checks existed (or with ``quality.compute_at_import = false``) have no
`image_quality` row; :meth:`QualityService.backfill` decodes each stored original the way an import does
(`imaging.reduced_decode` at the thumbnail size) and stores its metrics. An image that cannot be read or
decoded is a per-image failure: recorded in its row (`error`), counted, reported, and the run carries on.
Qt-free; the caller holds the project's writer lock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import delete, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lorairo.database.schema import ImageQualityRecord
from lorairo.services.filter_language import QUALITY_CHECKS
from lorairo.services.quality_rules import METRIC_COLUMNS, QualityThresholds, check_sql, counts_sql
from lorairo.storage.layout import image_path

if TYPE_CHECKING:
    from lorairo.services.project_service import Project

Progress = Callable[[int, int, str], None]
_COMMIT_EVERY = 50  # rows per write transaction: a crash loses at most this much measuring, never a half row


@dataclass
class BackfillResult:
    """What one `lorairo quality` run did."""

    measured: list[int] = field(default_factory=list)
    failures: list[tuple[int, str, str]] = field(default_factory=list)  # (image id, file name, reason)
    already: int = 0  # images that had metrics and were left alone (without --recompute)
    cancelled: bool = False


def measure_file(path: Path, thumbnail_size: int, max_pixels: int) -> dict[str, object]:
    """The metrics of the image file at `path` as an import measures them. Raises on any unreadable input."""
    from lorairo.services.importing.imaging import open_checked, reduced_decode
    from lorairo.services.importing.quality import measure, quantization_of

    image = open_checked(path.read_bytes(), max_pixels)
    tables = quantization_of(image)
    return measure(reduced_decode(image, thumbnail_size), tables).as_row()


class QualityService:
    """Measure, count and look up quality checks in one project."""

    def __init__(self, project: Project, thresholds: QualityThresholds | None = None) -> None:
        self.project = project
        self.thresholds = thresholds or QualityThresholds()

    def pending(self, recompute: bool = False) -> tuple[list[tuple[int, str, str]], int]:
        """(id, file path, file name) of the images to measure, and how many already have metrics."""
        with self.project.db.session() as s:
            rows = s.execute(
                text(
                    "SELECT i.id, i.file_path, i.file_name, q.image_id IS NOT NULL AND q.error IS NULL "
                    "FROM images i LEFT JOIN image_quality q ON q.image_id = i.id ORDER BY i.id"
                )
            ).all()
        todo = [(int(r[0]), str(r[1]), str(r[2])) for r in rows if recompute or not r[3]]
        return todo, len(rows) - len(todo)

    def backfill(
        self,
        *,
        recompute: bool = False,
        thumbnail_size: int = 512,
        max_pixels: int = 178_956_970,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> BackfillResult:
        """Measure every image without metrics (all with `recompute`); failures are recorded per image."""
        todo, already = self.pending(recompute)
        result = BackfillResult(already=already)
        rows: list[dict[str, object]] = []
        for done, (image_id, file_path, file_name) in enumerate(todo, start=1):
            if cancel is not None and cancel.is_set():
                result.cancelled = True
                break
            try:
                metrics = measure_file(image_path(self.project, file_path), thumbnail_size, max_pixels)
                rows.append({"image_id": image_id, **metrics, "error": None})
                result.measured.append(image_id)
            except Exception as exc:  # unreadable, missing, corrupt: this image fails, the run goes on
                reason = str(getattr(exc, "detail", "") or exc) or type(exc).__name__
                if isinstance(exc, OSError) and exc.strerror:
                    reason = f"cannot read {exc.filename or file_path}: {exc.strerror}"
                rows.append({"image_id": image_id, **dict.fromkeys(METRIC_COLUMNS), "error": reason})
                result.failures.append((image_id, file_name, reason))
            if len(rows) >= _COMMIT_EVERY:
                self._store(rows)
                rows = []
            if progress is not None:
                progress(done, len(todo), file_name)
        self._store(rows)
        return result

    def _store(self, rows: list[dict[str, object]]) -> None:
        if not rows:
            return
        from lorairo.database.schema import utcnow

        now = utcnow()
        statement = sqlite_insert(ImageQualityRecord).values([{**r, "measured_at": now} for r in rows])
        statement = statement.on_conflict_do_update(
            index_elements=["image_id"],
            set_={c: statement.excluded[c] for c in (*METRIC_COLUMNS, "error", "measured_at")},
        )
        with self.project.db.session(write=True) as s:
            s.execute(statement)

    def clear(self) -> None:
        with self.project.db.session(write=True) as s:
            s.execute(delete(ImageQualityRecord))

    def counts(self, thresholds: QualityThresholds | None = None) -> dict[str, int]:
        """How many images each check flags at `thresholds` (one SQL statement over the project)."""
        with self.project.db.session() as s:
            row = s.execute(text(counts_sql(thresholds or self.thresholds))).one()
        return {check: int(n) for check, n in zip(QUALITY_CHECKS, row, strict=True)}

    def count(self, check: str, value: float) -> int:
        """How many images `check` flags with its threshold at `value` (the Problems view's slider)."""
        sql = check_sql(check, self.thresholds.with_value(check, value))
        with self.project.db.session() as s:
            return int(s.execute(text(f"SELECT count(*) FROM images i WHERE {sql}")).scalar_one())

    def unmeasured(self) -> int:
        """Images with no metrics yet (the Problems view offers `lorairo quality`)."""
        with self.project.db.session() as s:
            return int(
                s.execute(
                    text(
                        "SELECT count(*) FROM images i WHERE NOT EXISTS "
                        "(SELECT 1 FROM image_quality q WHERE q.image_id = i.id AND q.error IS NULL)"
                    )
                ).scalar_one()
            )
