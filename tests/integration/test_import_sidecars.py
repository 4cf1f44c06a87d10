"""Import keeps everything the user wrote: duplicates' sidecars, edited sidecars, categories, odd encodings."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from lorairo.main import main
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.edit_service import EditService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.importing.summary import ImportSummary
from lorairo.services.project_service import Project, ProjectService
from lorairo.services.tag_categories import recategorize_tags
from tests.support import images as gen

_ROOT = Path(__file__).resolve().parents[2]
_PHOTOS = next(
    (p / "data" / "photos" for p in (_ROOT.parent / "shared", _ROOT.parent.parent / "shared") if p.is_dir()), None
)


@pytest.fixture
def config() -> ConfigurationService:
    return ConfigurationService()


@pytest.fixture
def project(config: ConfigurationService) -> Iterator[Project]:
    opened = ProjectService(config).create("sidecars")
    yield opened
    opened.close()


def _run(config: ConfigurationService, project: Project, *paths: Path, **kwargs: object) -> ImportSummary:
    return ImageProcessingService(config, project).import_paths(list(paths), jobs=1, **kwargs)  # type: ignore[arg-type]


def _rows(project: Project, sql: str) -> list[tuple]:
    with sqlite3.connect(project.db_path) as conn:
        return conn.execute(sql).fetchall()


def _tags(project: Project, image_id: int = 1) -> list[tuple[str, str, int]]:
    return _rows(project, f"SELECT tag, source, is_rejected FROM tags WHERE image_id = {image_id} ORDER BY id")


def _photo(name: str, target: Path) -> Path:
    if _PHOTOS is None:
        pytest.skip("the shared photos (../shared/data/photos) are not beside this checkout")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(_PHOTOS / name, target)
    return target


def test_an_exact_duplicates_sidecar_is_merged_into_the_kept_image(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    """photos/astronaut.png + astronaut.txt, found as a copy of another file, used to lose all its tags."""
    src = tmp_path / "src"
    _photo("astronaut.png", src / "a" / "astronaut.png")
    (src / "a" / "astronaut.txt").write_text("space, helmet", encoding="utf-8")
    _photo("astronaut.png", src / "photos" / "astronaut.png")
    (src / "photos" / "astronaut.txt").write_text(
        "astronaut, space suit, Helmet, smile, american flag", encoding="utf-8"
    )
    (src / "photos" / "astronaut.caption").write_text("an astronaut in a white suit", encoding="utf-8")
    summary = _run(config, project, src)
    assert (summary.imported, summary.duplicates) == (1, 1)
    assert [t for t, _s, _r in _tags(project)] == [
        "space",
        "helmet",
        "astronaut",
        "space suit",
        "smile",
        "american flag",
    ]  # fmt: skip  -- "Helmet" is the same tag as "helmet": merged, not doubled
    assert {s for _t, s, _r in _tags(project)} == {"sidecar"}
    assert _rows(project, "SELECT text FROM captions") == [("an astronaut in a white suit",)]

    # A duplicate found in a later run (the kept image is already in the project) is merged the same way.
    _photo("astronaut.png", src / "later" / "copy.png")
    (src / "later" / "copy.txt").write_text("moon, smile", encoding="utf-8")
    later = _run(config, project, src / "later")
    assert later.duplicates == 1 and later.sidecar_tags_added == 1
    assert [t for t, _s, _r in _tags(project)][-1] == "moon"


def test_reimport_adds_new_sidecar_tags_and_keeps_the_users_edits(
    config: ConfigurationService, project: Project, tmp_path: Path
) -> None:
    image = gen.write_jpeg(tmp_path / "pic.jpg", 200, 150, seed=5)
    sidecar = tmp_path / "pic.txt"
    sidecar.write_text("smile, blonde hair, blurry", encoding="utf-8")
    _run(config, project, tmp_path)
    edits = EditService(project)
    edits.remove_tags([1], ["blurry"])
    edits.rename_tag([1], "blonde hair", "blond hair")

    unchanged = _run(config, project, tmp_path)
    assert unchanged.sidecars_changed == 0 and unchanged.sidecar_tags_added == 0

    sidecar.write_text("smile, blonde hair, blurry, outdoors, Smile", encoding="utf-8")
    os.utime(sidecar, (1_700_000_000, 1_700_000_000))  # a different mtime whatever the clock's resolution
    edited = _run(config, project, tmp_path)
    assert (edited.sidecars_changed, edited.sidecar_tags_added) == (1, 1)
    live = _rows(project, "SELECT tag, source FROM tags WHERE is_rejected = 0 ORDER BY id")
    assert live == [("smile", "sidecar"), ("blond hair", "manual"), ("outdoors", "sidecar")]
    assert image.exists()

    # The image's own bytes changed too (the worker path, not the fast skip): the same rules hold.
    (tmp_path / "pic.caption").write_text("a sunny day", encoding="utf-8")
    image.write_bytes(image.read_bytes())
    os.utime(image, (1_700_000_100, 1_700_000_100))
    again = _run(config, project, tmp_path)
    assert (again.sidecar_tags_added, again.sidecars_changed) == (0, 1)  # the new .caption
    assert _rows(project, "SELECT text, source FROM captions") == [("a sunny day", "sidecar")]


def test_sidecar_encodings_are_read_and_reported_in_the_cli_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ProjectService(ConfigurationService()).create("enc").close()
    src = tmp_path / "src"
    gen.write_jpeg(src / "latin.jpg", 120, 90, seed=1)
    (src / "latin.txt").write_bytes("café, rétine".encode("latin-1"))
    gen.write_jpeg(src / "wide.jpg", 120, 90, seed=2)
    (src / "wide.txt").write_bytes("smile, 笑顔".encode("utf-16"))
    gen.write_jpeg(src / "nul.jpg", 120, 90, seed=3)
    (src / "nul.txt").write_bytes(b"cat\x00, dog")
    gen.write_jpeg(src / "huge.jpg", 120, 90, seed=4)
    (src / "huge.txt").write_bytes(b"x, " * 400_000)
    assert main(["import", str(src), "--project", "enc", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["sidecars_not_utf8"] == {
        str(src / "latin.txt"): "decoded as cp1252",
        str(src / "wide.txt"): "decoded as UTF-16",
    }
    kinds = {Path(n["path"]).name: n["kind"] for n in data["sidecar_notes"]}
    assert kinds == {
        "latin.txt": "not utf-8", "wide.txt": "not utf-8", "nul.txt": "control characters removed",
        "huge.txt": "too large",
    }  # fmt: skip
    with sqlite3.connect(ProjectService(ConfigurationService()).root / "enc" / "database.db") as conn:
        tags = {t for (t,) in conn.execute("SELECT tag FROM tags")}
    assert tags == {"café", "rétine", "smile", "笑顔", "cat", "dog"}

    assert main(["import", str(src), "--project", "enc"]) == 0  # the text summary names them too
    assert "not UTF-8" not in capsys.readouterr().out  # re-run: nothing re-read, nothing to report
    (src / "latin.txt").write_bytes("café, rétine, crème".encode("latin-1"))
    os.utime(src / "latin.txt", (1_700_000_000, 1_700_000_000))
    assert main(["import", str(src), "--project", "enc"]) == 0
    out = capsys.readouterr().out
    assert "1 sidecar file(s) changed" in out and "latin.txt: decoded as cp1252" in out


def _small_vocabulary(tmp_path: Path) -> None:
    """A tiny danbooru vocabulary in the (test-isolated) default tag database location."""
    from genai_tag_db_tools import TagDatabase

    csv = tmp_path / "danbooru.csv"
    csv.write_text('smile,0,100,""\nhatsune_miku,4,50,"miku"\nvocaloid,3,40,""\nhighres,5,1000,""\n', encoding="utf-8")
    with TagDatabase() as database:
        database.import_file(csv, format_name="danbooru")


def test_sidecar_tags_get_categories_at_import_and_after_a_vocabulary_import(
    config: ConfigurationService, project: Project, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    gen.write_jpeg(src / "one.jpg", 120, 90, seed=1)
    (src / "one.txt").write_text("smile, miku, unknown thing", encoding="utf-8")
    _run(config, project, src)
    assert _rows(project, "SELECT tag, category FROM tags ORDER BY id") == [
        ("smile", None),
        ("miku", None),
        ("unknown thing", None),
    ]  # fmt: skip  -- no vocabulary yet

    _small_vocabulary(tmp_path)
    result = recategorize_tags(project)
    assert (result.rows_updated, result.image_ids) == (2, (1,))
    assert _rows(project, "SELECT tag, category FROM tags ORDER BY id") == [
        ("smile", "general"), ("miku", "character"), ("unknown thing", None),
    ]  # fmt: skip

    gen.write_jpeg(src / "two.jpg", 120, 90, seed=2)
    (src / "two.txt").write_text("vocaloid, highres", encoding="utf-8")
    _run(config, project, src / "two.jpg")
    assert _rows(project, "SELECT tag, category FROM tags WHERE image_id = 2 ORDER BY id") == [
        ("vocaloid", "copyright"), ("highres", "meta"),
    ]  # fmt: skip

    project.close()
    assert main(["tags", "recategorize", "--project", "sidecars"]) == 0
    assert "0 tag(s) on 0 image(s) categorised (0 of 1 uncategorised names" in capsys.readouterr().out


def test_recategorize_without_a_vocabulary_says_how_to_get_one(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    project.close()
    assert main(["tags", "recategorize", "--project", "sidecars"]) == 1
    assert "tag-db import" in capsys.readouterr().out
