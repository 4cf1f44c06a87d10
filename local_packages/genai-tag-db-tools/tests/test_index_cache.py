"""The on-disk autocomplete index cache: a fresh process reuses it, and any change to the data invalidates it."""

from __future__ import annotations

from pathlib import Path

import pytest
from genai_tag_db_tools import index_cache
from genai_tag_db_tools.database import TagDatabase


def _vocab(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "danbooru.csv"
    path.write_text(rows, encoding="utf-8")
    return path


def _count_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    builds: list[str] = []
    real = TagDatabase._build_index

    def counting(self: TagDatabase, fmt: str):  # type: ignore[no-untyped-def]
        builds.append(fmt)
        return real(self, fmt)

    monkeypatch.setattr(TagDatabase, "_build_index", counting)
    return builds


def test_a_new_database_object_loads_the_cached_index_instead_of_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    builds = _count_builds(monkeypatch)
    with TagDatabase(tmp_path / "db") as db:
        db.import_file(_vocab(tmp_path, "long_hair,0,100,longhair\nlong_sleeves,0,50,\n"))
        assert [r.name for r in db.search("long")] == ["long hair", "long sleeves"]
        assert index_cache.cache_path(db.base_path, "danbooru").is_file()
    with TagDatabase(tmp_path / "db") as fresh:  # as a new process would
        assert [r.name for r in fresh.search("longh")] == ["long hair"]
    assert builds == ["danbooru"]


def test_an_import_by_another_process_invalidates_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with TagDatabase(tmp_path / "db") as db:
        db.import_file(_vocab(tmp_path, "long_hair,0,100,\n"))
        assert [r.name for r in db.search("long")] == ["long hair"]
    with TagDatabase(tmp_path / "db") as cli:
        cli.import_file(_vocab(tmp_path, "long_hair,0,100,\nlong_coat,0,70,\n"))
    builds = _count_builds(monkeypatch)
    with TagDatabase(tmp_path / "db") as fresh:
        assert [r.name for r in fresh.search("long")] == ["long hair", "long coat"]
    assert builds == ["danbooru"]


def test_a_user_overlay_edit_invalidates_the_cache(tmp_path: Path) -> None:
    with TagDatabase(tmp_path / "db") as db:
        db.import_file(_vocab(tmp_path, "long_hair,0,100,\n"))
        db.search("long")
        db.overlay.blacklist_add(["long_hair"])
    with TagDatabase(tmp_path / "db") as fresh:
        assert fresh.search("long") == []


def test_a_corrupt_or_foreign_cache_is_ignored_and_replaced(tmp_path: Path) -> None:
    with TagDatabase(tmp_path / "db") as db:
        db.import_file(_vocab(tmp_path, "long_hair,0,100,\n"))
        path = index_cache.cache_path(db.base_path, "danbooru")
        path.write_bytes(b"not a pickle")
        assert [r.name for r in db.search("long")] == ["long hair"]
    with TagDatabase(tmp_path / "db") as db:
        db.search("long")  # rebuilt and cached again
        with db.engine.connect() as conn:
            last = conn.exec_driver_sql(
                "SELECT id, imported_at, rows, seconds FROM imports ORDER BY id DESC LIMIT 1"
            ).fetchone()
        key = index_cache.cache_key(db.base_path, db.overlay_path, "danbooru", db.data_stamp(), tuple(last))
    assert index_cache.load(path, key) is not None
    path.write_bytes(path.read_bytes()[:100])  # truncated by a crash mid-write of an older version
    assert index_cache.load(path, key) is None


def test_an_unwritable_folder_only_costs_the_speed_up(tmp_path: Path) -> None:
    missing = tmp_path / "gone" / "x.pickle"
    from genai_tag_db_tools.search import SearchIndex

    assert index_cache.save(missing, ("k",), SearchIndex([("a", "general", 1)])) is False
    assert not missing.parent.exists()


def test_a_deleted_and_recreated_database_does_not_reuse_the_old_cache(tmp_path: Path) -> None:
    with TagDatabase(tmp_path / "db") as db:
        db.import_file(_vocab(tmp_path, "long_hair,0,100,\n"))
        db.search("long")
        base, overlay = db.base_path, db.overlay_path
    cached = index_cache.cache_path(base, "danbooru")
    kept = cached.read_bytes()
    base.unlink()
    overlay.unlink()
    with TagDatabase(tmp_path / "db") as db:  # same revision numbers, other data
        cached.write_bytes(kept)
        db.import_file(_vocab(tmp_path, "long_coat,0,100,\n"))
        assert [r.name for r in db.search("long")] == ["long coat"]
