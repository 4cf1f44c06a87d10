"""bench/gui.py's project: a generated N-image project (or a copy of a template database grown to N), thumbnails
shared from a few real ones, and a folder of new files to import while the window runs. Used by bench/gui.py,
review.py, review_cpu.py, scale.py and export_scale.py (through gui.<name>)."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import sqlite3
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VOCABULARY = 3000
SHARED_THUMBS = 24


def _env(workdir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["LORAIRO_CONFIG_PATH"] = str(workdir / "config" / "lorairo.toml")
    env["LORAIRO_DATABASE_DIR"] = str(workdir / "projects")
    env["XDG_CONFIG_HOME"] = str(workdir / "xdg-config")  # QSettings of the benchmark, not the user's
    env["XDG_DATA_HOME"] = str(workdir / "xdg-data")
    env["XDG_STATE_HOME"] = str(workdir / "xdg-state")
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    return env


# --- project generation ------------------------------------------------------------------------------------


def build_project(workdir: Path, count: int) -> Path:
    """Create `bench` with `count` images, 4-14 tags each (Zipf-like), scores, ratings and thumbnails."""
    os.environ.update(_env(workdir))
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.project_service import ProjectService

    service = ProjectService(ConfigurationService())
    if service.exists("bench"):
        project = service.open("bench")
        with project.db.session() as s:
            from sqlalchemy import text

            existing = s.execute(text("SELECT count(*) FROM images")).scalar_one()
        project.close()
        if existing == count:  # untouched since generated (the measured import adds images)
            return service.project_path("bench")
        shutil.rmtree(service.project_path("bench"))
    project = service.create("bench")
    root = project.root
    project.close()
    started = time.perf_counter()
    rng = random.Random(7)
    from genai_tag_db_tools.normalize import tag_key

    tags = [f"tag {i}" for i in range(VOCABULARY)]
    keys = {tag: tag_key(tag) for tag in tags}  # tags.tag_key: what filters match by
    weights = [1 / (i + 1) for i in range(VOCABULARY)]
    conn = sqlite3.connect(root / "database.db")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    now = "2026-01-01 00:00:00.000000"
    images, tag_rows, scores, ratings = [], [], [], []
    for i in range(1, count + 1):
        digest = hashlib.sha256(f"bench-{i}".encode()).hexdigest()
        w, h = rng.choice(((512, 512), (768, 512), (512, 768), (1024, 1024), (1216, 832)))
        images.append(
            (i, f"images/{digest[:2]}/{digest[:16]}_img_{i}.png", f"img_{i}.png", f"/data/img_{i}.png", 1, 50_000,
             w, h, "PNG", "RGB", 0, 1, digest, f"{i:016x}", i, 0, now, now)
        )  # fmt: skip
        for tag in set(rng.choices(tags, weights, k=rng.randint(4, 14))):
            tag_rows.append((i, tag, keys[tag], "general", "model", 0.9, 0, now, now))
        scores.append((i, "aesthetic", round(rng.uniform(0, 10), 2), 0.0, 10.0, "model", now))
        ratings.append((i, rng.choice(("general", "general", "sensitive", "questionable", "explicit")), "model", now))
    conn.executemany(
        "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height, "
        "format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        images,
    )
    conn.executemany(
        "INSERT INTO tags (image_id, tag, tag_key, category, source, confidence, is_rejected, created_at, updated_at) "
        "VALUES (?,?,?,?,?,?,?,?,?)",
        tag_rows,
    )
    conn.executemany(
        "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
        "VALUES (?,?,?,?,?,?,?)",
        scores,
    )
    conn.executemany("INSERT INTO ratings (image_id, label, source, created_at) VALUES (?,?,?,?)", ratings)
    # as after real imports: the last run completed (so the next import need not sweep for orphans)
    conn.execute(
        "INSERT INTO import_runs (roots_json, status, total_files, started_at, finished_at) "
        "VALUES ('[\"/data\"]', 'completed', ?, ?, ?)",
        (count, now, now),
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    link_thumbnails(workdir, root, count)
    print(f"generated {count:,} images, {len(tag_rows):,} tag rows in {time.perf_counter() - started:.1f} s")
    return root


def _image_count(db_path: Path) -> int | None:
    if not db_path.is_file():
        return None
    conn = sqlite3.connect(db_path)
    try:
        return int(conn.execute("SELECT count(*) FROM images").fetchone()[0])
    except sqlite3.DatabaseError:
        return None
    finally:
        conn.close()


def project_from_template(workdir: Path, template: Path, count: int) -> Path:
    """`bench` as a copy of a project database made earlier by this generator (at 1,000,000 images generating
    takes most of an hour): the template is upgraded to this checkout's schema once, copied in whenever the
    workdir's copy is missing or was changed (the measured import adds images), and the thumbnails are
    hard-linked (only the missing ones: the first run links a million files, later runs stat them)."""
    os.environ.update(_env(workdir))
    from sqlalchemy import create_engine

    from lorairo.database import migrations
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.project_service import ProjectService

    found = _image_count(template)
    if found != count:
        raise SystemExit(f"{template}: holds {found} images, --images says {count}")
    engine = create_engine(f"sqlite:///{template}")
    backup = migrations.upgrade(engine, template)
    engine.dispose()
    if backup is not None:  # the template is itself a copy: no need to keep a second 2 GB one
        backup.unlink()
    service = ProjectService(ConfigurationService())
    if not service.exists("bench"):
        service.create("bench").close()
    root = service.project_path("bench")
    db_path = root / "database.db"
    if _image_count(db_path) != count or _stamp(db_path) != _stamp(template):
        started = time.perf_counter()
        for suffix in ("-wal", "-shm"):
            db_path.with_name(db_path.name + suffix).unlink(missing_ok=True)
        shutil.copyfile(template, db_path)
        print(f"copied {template} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    link_thumbnails(workdir, root, count)
    return root


def _stamp(db_path: Path) -> str | None:
    conn = sqlite3.connect(db_path)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return str(row[0]) if row else None
    finally:
        conn.close()


def link_thumbnails(workdir: Path, root: Path, count: int) -> None:
    """Thumbnails of images 1..count (hash = sha256 of "bench-<id>"): SHARED_THUMBS small JPEGs, hard-linked."""
    from PIL import Image

    from lorairo.storage.layout import thumbnail_relpath

    shared = []
    for k in range(SHARED_THUMBS):
        path = workdir / f"shared_{k}.jpg"
        if not path.is_file():
            Image.new("RGB", (512, 384), ((k * 53) % 256, (k * 97) % 256, (k * 31) % 256)).save(path, quality=80)
        shared.append(path)
    made: set[Path] = set()
    for n in range(count):
        digest = hashlib.sha256(f"bench-{n + 1}".encode()).hexdigest()
        target = root / thumbnail_relpath(digest)
        if target.parent not in made:
            target.parent.mkdir(parents=True, exist_ok=True)
            made.add(target.parent)
        try:
            os.link(shared[n % SHARED_THUMBS], target)
        except FileExistsError:
            pass


def make_import_folder(workdir: Path, count: int) -> Path:
    from PIL import Image

    folder = workdir / "to-import"
    if folder.is_dir() and len(list(folder.iterdir())) >= count:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(3)
    for i in range(count):
        image = Image.effect_noise((256, 256), 60 + i % 40).convert("RGB")
        image = Image.merge("RGB", [c.point(lambda v, o=rng.randint(0, 200): (v + o) % 256) for c in image.split()])
        image.save(folder / f"new_{i:04d}.jpg", quality=85)
    return folder


# --- launch time (child process) ---------------------------------------------------------------------------
