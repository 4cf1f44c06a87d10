"""`lorairo project check` and the app's Project > Check project: is every row backed by its files, and is
every file in the project backed by a row?

Checks, in order: the database is LoRAIro's (else nothing else is looked at), SQLite's ``integrity_check``,
images whose file is missing, thumbnails missing, files under ``images/`` and ``thumbnails/`` that no row
refers to, and write-intent journals of an unfinished run. ``repair`` re-creates missing thumbnails from their
images, puts a missing copy of an original back from a source path whose bytes still hash the same (or points a
referenced-in-place image at such a path), and sweeps the journaled orphans; what it cannot fix is reported.
Files that no row lists but nothing journaled are reported, never deleted: nothing proves they are not the
user's (a database restored from an older backup would otherwise lose every newer image).

The whole check holds the project's lock: during an import, files without rows are normal, not problems.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select, update

from lorairo.database.import_repository import ImportRepository
from lorairo.database.schema import ImageRecord, ImageSourceRecord
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.importing.imaging import encode_thumbnail, open_checked, reduced_decode
from lorairo.services.project_service import DB_NAME, Project, ProjectService
from lorairo.storage.layout import (
    image_path,
    journaled_files,
    original_relpath,
    sweep_orphans,
    thumbnail_path,
    thumbnail_relpath,
    untracked_files,
    write_project_file,
)
from lorairo.storage.lock import ProjectLock

ProgressCallback = Callable[[int, int, str], None]
_LIST_LIMIT = 50  # the report lists this many paths per kind (the counts are always complete)


@dataclass
class CheckReport:
    """What a check found (and, with repair, fixed). `problems` counts what is still wrong."""

    project: str
    database: str
    database_problem: str | None = None
    integrity: list[str] = field(default_factory=list)  # ["ok"] when SQLite finds nothing
    images: int = 0
    missing_files: list[str] = field(default_factory=list)  # "#id path"
    missing_thumbnails: list[str] = field(default_factory=list)  # "#id path" of the image
    untracked_files: list[str] = field(default_factory=list)  # project-relative
    unfinished_writes: int = 0  # files named by write-intent journals of a run that did not finish
    repaired: dict[str, int] = field(default_factory=dict)
    unrepaired: list[str] = field(default_factory=list)

    @property
    def problems(self) -> int:
        if self.database_problem:
            return 1
        return (
            int(self.integrity != ["ok"])
            + len(self.missing_files)
            + len(self.missing_thumbnails)
            + len(self.untracked_files)
            + self.unfinished_writes
        )

    @property
    def ok(self) -> bool:
        return self.problems == 0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "problems": self.problems, "ok": self.ok}

    def lines(self) -> list[str]:
        """The report as text, one finding per line (the CLI and the app's dialog show these)."""
        if self.database_problem:
            return [f"{self.database}: {self.database_problem}", "Nothing else was checked and nothing was changed."]
        out = [f"{self.images:,} images in {self.database}"]
        out.append("database integrity: ok" if self.integrity == ["ok"] else "database integrity: DAMAGED")
        out += [f"  {line}" for line in self.integrity[:_LIST_LIMIT] if self.integrity != ["ok"]]
        for title, items in (
            ("images whose file is missing", self.missing_files),
            ("images without a thumbnail", self.missing_thumbnails),
            ("files no image refers to (kept: check them, then delete them yourself)", self.untracked_files),
        ):
            out.append(f"{title}: {len(items):,}")
            out += [f"  {item}" for item in items[:_LIST_LIMIT]]
            if len(items) > _LIST_LIMIT:
                out.append(f"  ... and {len(items) - _LIST_LIMIT:,} more (--json lists all)")
        if self.unfinished_writes:
            out.append(f"files of an unfinished run still to sweep: {self.unfinished_writes:,} (--repair removes them)")
        for what, count in self.repaired.items():
            out.append(f"repaired: {count:,} {what}")
        out += [f"not repaired: {item}" for item in self.unrepaired[:_LIST_LIMIT]]
        out.append("no problems found" if self.ok else f"{self.problems:,} problem(s) remain")
        return out


def check_project(
    projects: ProjectService, name: str, *, repair: bool = False, progress: ProgressCallback | None = None
) -> CheckReport:
    """Check (and with `repair`, fix what can be fixed in) project `name`. Refuses while the project is busy.

    A database that is not LoRAIro's is reported without being opened, migrated or touched.
    """
    path = projects.project_path(name)
    db_path = path / DB_NAME
    report = CheckReport(project=path.name, database=str(db_path))
    info = projects.info(name)  # "no project named ..." for a missing one
    if info.error:
        report.database_problem = info.error.removeprefix(f"{db_path}: ")
        return report
    project = projects.open(name)
    try:
        with ProjectLock(project.root, "check"):
            _Checker(project, report, repair, progress, _ThumbnailSettings.of(projects.config)).run()
    finally:
        project.close()
    return report


class _Checker:
    def __init__(
        self,
        project: Project,
        report: CheckReport,
        repair: bool,
        progress: ProgressCallback | None,
        thumbnails: _ThumbnailSettings,
    ) -> None:
        self.project, self.report, self.repair, self.thumbnails = project, report, repair, thumbnails
        self.progress: ProgressCallback = progress or (lambda _done, _total, _message: None)

    def run(self) -> None:
        report = self.report
        self.progress(0, 0, "checking database integrity")
        report.integrity = _integrity(self.project.db_path)
        if self.repair:
            with self.project.db.session() as session:
                swept = sweep_orphans(self.project.root, ImportRepository(session).referenced_files)
            if swept:
                report.repaired["files of an unfinished run removed"] = swept
        _journals, written = journaled_files(self.project.root)
        with self.project.db.session() as session:
            kept = ImportRepository(session).referenced_files(written)
        unfinished = {rel for rel in written - kept if (self.project.root / rel).is_file()}
        report.unfinished_writes = len(unfinished)
        with self.project.db.session() as session:
            rows = session.execute(
                select(ImageRecord.id, ImageRecord.file_path, ImageRecord.hash_value, ImageRecord.stored_in_project)
            ).all()
        report.images = len(rows)
        for done, (image_id, file_path, hash_value, stored) in enumerate(rows, 1):
            if done % 500 == 0:
                self.progress(done, len(rows), f"checking files: {done:,}/{len(rows):,}")
            file = image_path(self.project, file_path)
            if not file.is_file() and not (self.repair and self._relink(image_id, file_path, hash_value, stored)):
                report.missing_files.append(f"#{image_id} {file_path}")
                continue
            if not thumbnail_path(self.project, hash_value).is_file():
                if self.repair and self._rethumb(image_id, hash_value, self.thumbnails):
                    continue
                report.missing_thumbnails.append(f"#{image_id} {file_path}")
        with self.project.db.session() as session:
            files, hashes = ImportRepository(session).stored_files()
        report.untracked_files = [
            rel for rel in untracked_files(self.project.root, files, hashes) if rel not in unfinished
        ]
        if self.repair:  # settle the journal of what this repair wrote (all of it has rows now)
            with self.project.db.session() as session:
                sweep_orphans(self.project.root, ImportRepository(session).referenced_files)

    def _count(self, what: str) -> None:
        self.report.repaired[what] = self.report.repaired.get(what, 0) + 1

    def _relink(self, image_id: int, file_path: str, hash_value: str, stored: bool) -> bool:
        """Find the image's bytes at one of its source paths and put them back (copy) or point at them."""
        with self.project.db.session() as session:
            sources = list(
                session.scalars(select(ImageSourceRecord.source_path).where(ImageSourceRecord.image_id == image_id))
            )
        for source in sources:
            try:
                data = Path(source).read_bytes()
            except OSError:
                continue
            if hashlib.sha256(data).hexdigest() != hash_value:
                continue
            if stored:
                relpath = file_path
                if Path(file_path).is_absolute():
                    relpath = original_relpath(hash_value, Path(source).name)
                write_project_file(self.project.root, relpath, data)
                new_path = relpath
                self._count("copies of originals put back from their source")
            else:
                new_path = source
                self._count("images pointed at a source path with the same content")
            if new_path != file_path:
                with self.project.db.session(write=True) as session:
                    session.execute(update(ImageRecord).where(ImageRecord.id == image_id).values(file_path=new_path))
            return True
        where = ", ".join(sources) if sources else "no source path recorded"
        self.report.unrepaired.append(f"#{image_id} {file_path}: no source with the same content ({where})")
        return False

    def _rethumb(self, image_id: int, hash_value: str, settings: _ThumbnailSettings) -> bool:
        with self.project.db.session() as session:
            file_path = session.scalar(select(ImageRecord.file_path).where(ImageRecord.id == image_id))
        try:
            data = image_path(self.project, str(file_path)).read_bytes()
            with open_checked(data, settings.max_pixels) as image:
                thumb = reduced_decode(image, settings.size)
            encoded = encode_thumbnail(thumb, settings.fmt, settings.quality)
            write_project_file(self.project.root, thumbnail_relpath(hash_value, settings.fmt), encoded)
        except Exception as exc:  # a file that no longer decodes: reported, the check goes on
            self.report.unrepaired.append(f"#{image_id} thumbnail: {type(exc).__name__}: {exc}")
            return False
        self._count("thumbnails re-created")
        return True


@dataclass(frozen=True)
class _ThumbnailSettings:
    size: int
    fmt: str
    quality: int
    max_pixels: int

    @staticmethod
    def of(config: ConfigurationService) -> _ThumbnailSettings:
        get = config.get
        return _ThumbnailSettings(
            int(get("image_processing.thumbnail_size")),
            str(get("image_processing.thumbnail_format")),
            int(get("image_processing.thumbnail_quality")),
            int(get("image_processing.max_pixels")),
        )


def _integrity(db_path: Path) -> list[str]:
    """SQLite's own ``PRAGMA integrity_check`` on a read-only connection: ["ok"] or its findings."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return [str(row[0]) for row in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        return [f"integrity_check failed: {exc}"]
    finally:
        conn.close()
