"""Imports refuse files that are not vocabularies, and every import can be taken back."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from genai_tag_db_tools.cli import app
from genai_tag_db_tools.database import TagDatabase
from genai_tag_db_tools.errors import ImportFormatError
from typer.testing import CliRunner

runner = CliRunner()
CsvWriter = Callable[[Path, list[list[str]]], Path]
HeadOf = Callable[[Path, Path, int], Path]


def _names(db: TagDatabase, query: str) -> list[str]:
    return [r.name for r in db.search(query, limit=10)]


def _base_counts(db: TagDatabase) -> dict[str, int]:
    return dict(db.stats()["base"])


def test_a_caption_txt_is_refused_naming_the_file_and_what_was_expected(tmp_db: TagDatabase, tmp_path: Path) -> None:
    caption = tmp_path / "astronaut.txt"
    caption.write_text("1girl, long hair, smile, outdoors\n", encoding="utf-8")
    before = _base_counts(tmp_db)
    with pytest.raises(ImportFormatError) as err:
        tmp_db.import_file(caption)
    message = str(err.value)
    assert str(caption) in message and "not a tag list" in message and "one tag per line" in message
    assert "tagcomplete CSV" in message  # says what would have been accepted
    with pytest.raises(ImportFormatError, match="expected one tag per line"):
        tmp_db.import_file(caption, kind="deprecated")  # forcing the kind does not make it a tag list
    assert _base_counts(tmp_db) == before  # nothing written, nothing deprecated


def test_a_sentence_is_not_a_tag(tmp_db: TagDatabase, tmp_path: Path) -> None:
    prose = tmp_path / "photo.txt"
    prose.write_text("a photo of a woman standing in a green field at dusk.\n", encoding="utf-8")
    with pytest.raises(ImportFormatError, match="is a sentence, not a tag"):
        tmp_db.import_file(prose)


def test_cli_refuses_a_caption_in_one_line(tmp_path: Path) -> None:
    caption = tmp_path / "img_0001.txt"
    caption.write_text("1girl, solo\n", encoding="utf-8")
    result = runner.invoke(app, ["import", str(caption), "--db-dir", str(tmp_path / "db")])
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert str(caption) in result.stderr and "not a tag list" in result.stderr


def test_undo_a_deprecation_list_brings_the_tags_back(
    tmp_db: TagDatabase, tmp_path: Path, danbooru_csv: Path, head_of: HeadOf
) -> None:
    vocab = tmp_db.import_file(head_of(danbooru_csv, tmp_path / "danbooru.csv", 2000))
    first = tmp_path / "deprecated.txt"
    first.write_text("# tags we stopped using\nlong_hair\nsmile\n", encoding="utf-8")
    second = tmp_path / "more.txt"
    second.write_text("smile\n", encoding="utf-8")
    one = tmp_db.import_file(first)
    two = tmp_db.import_file(second)
    tmp_db.set_deprecated(["blush"])  # by hand
    assert "long hair" not in _names(tmp_db, "long hai")
    assert one.import_id and two.import_id and vocab.import_id

    result = tmp_db.remove_import(one.import_id)
    assert result["undeprecated"] == 1  # long_hair; smile is still named by the second list
    assert "long hair" in _names(tmp_db, "long hai")
    assert tmp_db.get_tag_info(["smile"])["smile"].deprecated
    tmp_db.remove_import("LAST")  # the second list
    assert not tmp_db.get_tag_info(["smile"])["smile"].deprecated
    assert tmp_db.get_tag_info(["blush"])["blush"].deprecated  # the hand-set flag is its own source
    assert [r.id for r in tmp_db.imports()] == [vocab.import_id]


def test_undo_a_vocabulary_keeps_the_user_overlay(
    tmp_db: TagDatabase, tmp_path: Path, danbooru_csv: Path, head_of: HeadOf
) -> None:
    tmp_db.overlay.add_tag("my_oc", "character")
    tmp_db.overlay.add_alias("longhairs", "long_hair")
    report = tmp_db.import_file(head_of(danbooru_csv, tmp_path / "danbooru.csv", 1000))
    assert report.import_id is not None
    listed = tmp_db.imports()
    assert listed[-1].live_rows >= 1000 and listed[-1].undoable
    result = tmp_db.remove_import(report.import_id)
    assert result["removed"]["tag_formats"] == 1000
    assert tmp_db.formats() == []
    assert _base_counts(tmp_db)["tags"] == 0  # tag names nothing refers to are dropped too
    assert "my oc" in _names(tmp_db, "my_o")  # the user's own additions are untouched
    assert tmp_db.overlay.aliases("danbooru") == {"longhairs": "long_hair"}


def test_a_reimport_owns_the_rows_and_the_older_import_shows_none_left(
    tmp_db: TagDatabase, tmp_path: Path, danbooru_csv: Path, head_of: HeadOf
) -> None:
    path = head_of(danbooru_csv, tmp_path / "danbooru.csv", 500)
    first = tmp_db.import_file(path)
    second = tmp_db.import_file(path)
    live = {r.id: r.live_rows for r in tmp_db.imports()}
    assert live[first.import_id] == 0 and live[second.import_id] > 500  # type: ignore[index]


def test_a_bad_wd_file_does_not_wipe_the_earlier_wd_rows(
    tmp_db: TagDatabase, tmp_path: Path, write_csv: CsvWriter
) -> None:
    good = write_csv(tmp_path / "selected_tags.csv", [["tag_id", "name", "category", "count"], ["1", "cat", "0", "5"]])
    tmp_db.import_file(good)
    bad = write_csv(tmp_path / "bad_tags.csv", [["tag_id", "name", "category", "count"], ["1", "dog", "x", "y"]])
    with pytest.raises(ImportFormatError, match="no row could be imported"):
        tmp_db.import_file(bad, kind="wd")
    assert _names(tmp_db, "cat") == ["cat"]


def test_imports_from_before_undo_are_listed_and_refused_clearly(tmp_path: Path, write_csv: CsvWriter) -> None:
    folder = tmp_path / "db"
    with TagDatabase(folder) as db:
        db.import_file(write_csv(tmp_path / "danbooru.csv", [["cat", "0", "5", ""]]))
    with sqlite3.connect(folder / "tags_base.sqlite") as conn:  # the layout before undo existed
        for table in ("tag_formats", "aliases", "implications", "translations"):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN import_id")
        conn.execute("ALTER TABLE imports DROP COLUMN undoable")
        conn.execute("DROP TABLE deprecations")
    with TagDatabase(folder) as db:  # upgraded in place
        assert _names(db, "cat") == ["cat"]
        (old,) = db.imports()
        assert not old.undoable
        with pytest.raises(ImportFormatError, match="recorded before imports could be undone"):
            db.remove_import(old.id)
        new = db.import_file(write_csv(tmp_path / "e621.csv", [["wolf", "0", "9", ""]]))
        assert new.import_id is not None
        db.remove_import(new.import_id)
        assert db.formats() == ["danbooru"]


def test_cli_imports_list_and_remove(tmp_path: Path, write_csv: CsvWriter) -> None:
    db = ["--db-dir", str(tmp_path / "db")]
    vocab = write_csv(tmp_path / "danbooru.csv", [["cat", "0", "5", "kitty"], ["dog", "0", "4", ""]])
    imported = runner.invoke(app, ["import", str(vocab), *db])
    assert imported.exit_code == 0 and "tag-db imports remove 1" in imported.stdout
    listed = runner.invoke(app, ["imports", "list", "--json", *db])
    assert [(r["id"], r["live_rows"]) for r in json.loads(listed.stdout)] == [(1, 3)]
    table = runner.invoke(app, ["imports", "list", *db])  # not a terminal: nothing is cut to fit 80 columns
    assert str(vocab) in table.stdout and "…" not in table.stdout
    removed = runner.invoke(app, ["imports", "remove", "last", "--json", *db])
    assert removed.exit_code == 0, removed.output
    assert json.loads(removed.stdout)["removed"]["tag_formats"] == 2
    again = runner.invoke(app, ["imports", "remove", "LAST", *db])
    assert again.exit_code == 1 and "no import is recorded" in again.stderr
