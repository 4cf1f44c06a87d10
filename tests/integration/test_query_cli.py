"""`--ids` means image IDs (ranges too) in every command, filter errors name their column, `lorairo duplicates`
lists what the review dialog shows, and tag filters stay index-driven on the normalised key."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from lorairo.database import migrations
from lorairo.database.engine import Database
from lorairo.database.schema import (
    ImageRecord,
    ImageSourceRecord,
    NearDuplicateRecord,
    TagRecord,
)
from lorairo.main import main
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.filter_language import IdListError, parse_filter, parse_ids
from lorairo.services.image_query_service import ImageQueryService, build_query
from lorairo.services.project_service import Project, ProjectService


def _image(n: int, **kw: object) -> ImageRecord:
    return ImageRecord(
        file_path=f"images/{n}.png",
        file_name=f"img_{n}.png",
        original_path=f"/src/img_{n}.png",
        file_size=100,
        width=64,
        height=64,
        format="PNG",
        mode="RGB",
        hash_value=f"{n:064x}",
        phash=f"{n:016x}",
        phash_int=n,
        created_at=datetime(2024, 1, 1),
        **kw,
    )


@pytest.fixture
def project() -> Iterator[Project]:
    proj = ProjectService(ConfigurationService()).create("q")
    with proj.db.session(write=True) as s:
        images = [_image(n) for n in range(1, 6)]
        s.add_all(images)
        s.flush()
        ids = [img.id for img in images]
        for image_id, tag in ((ids[0], "Green Eyes"), (ids[1], "green eyes"), (ids[2], "cat")):
            s.add(TagRecord(image_id=image_id, tag=tag, source="sidecar"))
        s.add(NearDuplicateRecord(image_id=ids[0], match_image_id=ids[1], distance=4))
        s.add(NearDuplicateRecord(image_id=ids[1], match_image_id=ids[3], distance=6))
        s.add_all(ImageSourceRecord(image_id=ids[4], source_path=p) for p in ("/a/x.png", "/b/x.png"))
    yield proj
    proj.close()


def _out(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_ids_are_image_ids_with_ranges_everywhere(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    assert parse_ids(["1,2 5-7", "3\n9"]).ids == (1, 2, 5, 6, 7, 3, 9)
    assert parse_ids("1,2 5-7").named == {1, 2}
    for bad, message in (("1,x", "'x' is not an image ID"), ("7-5", "runs backwards"), (",", "no image IDs")):
        with pytest.raises(IdListError, match=message):
            parse_ids(bad)
    # query --ids selects (it printed IDs before: that is --quiet now), with --filter: those that match
    assert main(["query", "-p", "q", "--ids", "1-3", "--quiet"]) == 0
    assert _out(capsys).split() == ["1", "2", "3"]
    assert main(["query", "-p", "q", "--ids", "1-4", "--filter", "green_eyes", "-q"]) == 0
    assert _out(capsys).split() == ["1", "2"]
    # the output of --quiet goes straight back into --ids (newlines are separators)
    assert main(["query", "-p", "q", "--ids", "1\n3\n", "--json", "-q"]) == 0
    assert json.loads(_out(capsys))["ids"] == [1, 3]
    # an ID the project does not have is an error, in query and annotate alike (annotate took it silently)
    assert main(["query", "-p", "q", "--ids", "2,9999"]) == 1
    assert "no image with ID 9999" in capsys.readouterr().err
    assert main(["query", "-p", "q", "--ids", "4-100", "-q"]) == 0  # a range selects the images it covers
    assert _out(capsys).split() == ["4", "5"]
    assert main(["annotate", "-p", "q", "--models", "open-nsfw", "--ids", "9999"]) == 1
    assert "no image with ID 9999" in capsys.readouterr().err
    assert main(["export", "-p", "q", "--ids", "1-x"]) == 1
    assert "'1-x' is not an image ID or a range" in capsys.readouterr().err


def test_filter_errors_name_the_column_and_never_return_an_empty_result(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    for text_, column, words in (
        ("cat, foo:bar", 6, "unknown key 'foo'"),
        ("cat|", 4, "empty tag"),
        ("cat, -", 6, "nothing after '-'"),
        ('tag:"long hair', 5, "never closed"),
        ("untagged -untagged", 10, "contradict"),
        ("cat|score>=5", 5, "only tags can be combined"),
    ):
        assert main(["query", "-p", "q", "--filter", text_]) == 1, text_
        err = capsys.readouterr().err
        assert f"column {column}" in err and words in err, err
        assert _out(capsys) == ""


def test_query_help_shows_the_filter_grammar(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "--help"]) == 0
    out = _out(capsys)
    assert "long hair, cat|dog, -blurry" in out and "open-nsfw: sfw nsfw" in out and "-untagged" in out


def test_duplicates_lists_groups_with_distances_and_exact_duplicates(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["duplicates", "-p", "q", "--json"]) == 0
    data = json.loads(_out(capsys))
    (group,) = data["near_duplicates"]
    assert [image["id"] for image in group["images"]] == [1, 2, 4]
    assert sorted((x["image_id"], x["match_image_id"], x["distance"]) for x in group["links"]) == [(1, 2, 4), (2, 4, 6)]
    assert data["exact_duplicates"] == [{"image_id": 5, "file_name": "img_5.png", "paths": ["/a/x.png", "/b/x.png"]}]
    assert main(["duplicates", "-p", "q"]) == 0
    out = _out(capsys)
    assert "1-2 distance 4" in out and "/b/x.png" in out and "1 near-duplicate groups" in out


def test_tag_key_is_written_on_every_insert_path(project: Project) -> None:
    from lorairo.database.import_repository import ImportRepository
    from lorairo.database.tag_repository import EditRepository, InsertTags, TagRow

    with project.db.session(write=True) as s:
        EditRepository(s).apply(InsertTags((TagRow(3, "Long_Hair", None, "manual"),)))
        ImportRepository(s).merge_sidecars([(4, ["Photo \\(Medium\\)", "^_^"], None)])
    with project.db.session() as s:
        keys = dict(s.execute(text("SELECT tag, tag_key FROM tags")).all())
    assert keys == {
        "Green Eyes": "green_eyes",
        "green eyes": "green_eyes",
        "cat": "cat",
        "Long_Hair": "long_hair",
        "Photo \\(Medium\\)": "photo_(medium)",
        "^_^": "^_^",
    }
    service = ImageQueryService(project.db)
    assert service.query_ids(parse_filter("long hair, photo (medium)|^_^")) == []
    assert service.query_ids(parse_filter("LONG HAIR")) == [3]
    assert service.query_ids(parse_filter("photo (medium)|^_^")) == [4]
    assert service.tag_counts("Green_E") == [("green eyes", 2)]  # autocomplete agrees: one tag, two images


def _plan(db: Database, filter_text: str) -> str:
    sql, params = build_query(parse_filter(filter_text))
    with db.read_engine.connect() as conn:
        rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", {k: str(v) for k, v in params.items()}).all()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize(
    "filter_text",
    ["Green Eyes", "long hair, cat", "cat|dog", "green*", "cat, -blurry", "cat score>=5 rating:general"],
)
def test_tag_filters_search_the_live_tag_key_index(project: Project, filter_text: str) -> None:
    plan = _plan(project.db, filter_text)
    # every tag lookup is a search of the live-tag index by key (an equality, or a range for `green*`)
    assert "idx_tags_live (tag_key=?)" in plan or "idx_tags_live (tag_key>? AND tag_key<?)" in plan, plan
    assert "SCAN tags" not in plan and "SCAN t " not in plan, plan


def test_old_projects_get_the_key_backfilled(tmp_path: Path) -> None:
    projects = ProjectService(ConfigurationService())
    root = projects.root / "old"
    (root / "images").mkdir(parents=True)
    db = Database(root / "database.db")
    migrations.upgrade(db.write_engine, root / "database.db", "0004")
    db.dispose()
    conn = sqlite3.connect(root / "database.db")
    conn.execute(
        "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height,"
        " format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at, updated_at)"
        " VALUES (1, 'a', 'a.png', '/a.png', 1, 1, 1, 1, 'PNG', 'RGB', 0, 1, 'h', '0', 0, 0, '2025-01-01',"
        " '2025-01-01')"
    )
    for tag, rejected in (("Green Eyes", 0), ("green_eyes", 0), ("cat", 1)):
        conn.execute(
            "INSERT INTO tags (image_id, tag, source, is_rejected, created_at, updated_at)"
            " VALUES (1, ?, 'sidecar', ?, '2025-01-01', '2025-01-01')",
            (tag, rejected),
        )
    conn.commit()
    conn.close()
    project = projects.open("old")
    try:
        service = ImageQueryService(project.db)
        assert service.query_ids(parse_filter("green eyes")) == [1]
        assert service.query_ids(parse_filter("cat")) == []  # rejected stays rejected
        with project.db.session() as s:
            assert s.execute(text("SELECT count(*) FROM tags WHERE tag_key IS NULL")).scalar() == 0
            index = s.execute(text("SELECT sql FROM sqlite_master WHERE name = 'idx_tags_live'")).scalar()
        assert "tag_key" in index and "is_rejected = 0" in index
    finally:
        project.close()
    # A raw INSERT that forgets the key fails instead of adding a tag no filter finds.
    conn = sqlite3.connect(root / "database.db")
    with pytest.raises(sqlite3.IntegrityError, match="tag_key"):
        conn.execute(
            "INSERT INTO tags (image_id, tag, source, is_rejected, created_at, updated_at)"
            " VALUES (1, 'dog', 'manual', 0, '2025-01-01', '2025-01-01')"
        )
    conn.close()


def test_tag_key_migration_downgrades_with_the_tags_intact(tmp_path: Path) -> None:
    from alembic import command

    db_path = tmp_path / "database.db"
    db = Database(db_path)
    migrations.upgrade(db.write_engine, db_path)
    with db.session(write=True) as s:
        s.add(_image(1))
        s.flush()
        s.add(TagRecord(image_id=1, tag="Green Eyes", source="manual"))
    config = migrations.alembic_config()
    with db.write_engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    db.dispose()
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT tag FROM tags").fetchall() == [("Green Eyes",)]
    index = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'idx_tags_live'").fetchone()[0]
    assert "(tag, image_id)" in index and "tag_key" not in index
    conn.close()


def test_tag_key_migration_keeps_columns_and_indexes_other_revisions_add(tmp_path: Path) -> None:
    # The lead chains revisions at merge: one that adds to `tags` may run before 0005.
    db_path = tmp_path / "database.db"
    db = Database(db_path)
    migrations.upgrade(db.write_engine, db_path, "0004")
    with db.write_engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE tags ADD COLUMN origin TEXT")
        conn.exec_driver_sql("CREATE INDEX idx_tags_origin ON tags (origin)")
        conn.exec_driver_sql(
            "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height,"
            " format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at,"
            " updated_at) VALUES (1, 'a', 'a.png', '/a.png', 1, 1, 1, 1, 'PNG', 'RGB', 0, 1, 'h', '0', 0, 0,"
            " '2025-01-01', '2025-01-01')"
        )
        conn.exec_driver_sql(
            "INSERT INTO tags (image_id, tag, source, is_rejected, created_at, updated_at, origin)"
            " VALUES (1, 'Long Hair', 'sidecar', 0, '2025-01-01', '2025-01-01', 'a.txt')"
        )
    with db.write_engine.begin() as conn:
        config = migrations.alembic_config()
        config.attributes["connection"] = conn
        from alembic import command

        command.upgrade(config, "0005")
    db.dispose()
    conn = sqlite3.connect(db_path)
    assert conn.execute("SELECT tag, tag_key, origin FROM tags").fetchall() == [("Long Hair", "long_hair", "a.txt")]
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE tbl_name = 'tags'")}
    assert {"idx_tags_origin", "idx_tags_live", "idx_tags_tag_image", "idx_tags_image_id"} <= names
    conn.close()
