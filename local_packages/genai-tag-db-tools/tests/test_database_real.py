"""The database against the real Danbooru and e621 lists."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from genai_tag_db_tools import ImportFormatError, TagCleaner, TagDatabase, TagDbError

CsvWriter = Callable[[Path, list[list[str]]], Path]
HeadOf = Callable[[Path, Path, int], Path]


def test_danbooru_import_has_tags_categories_counts_and_aliases(danbooru_db: TagDatabase) -> None:
    stats = danbooru_db.stats()
    assert stats["formats"]["danbooru"]["tags"] == 140782
    assert stats["formats"]["danbooru"]["aliases"] > 30000
    info = danbooru_db.get_tag_info(["long hair", "hatsune_miku", "vocaloid", "highres", "wlop"])
    assert info["long hair"].name == "long_hair"
    assert info["long hair"].count == 4350743
    assert info["long hair"].category == "general"
    assert info["hatsune_miku"].category == "character"
    assert info["vocaloid"].category == "copyright"
    assert info["highres"].category == "meta"
    assert info["wlop"].category == "artist"


def test_get_tag_info_resolves_aliases_and_skips_unknown(danbooru_db: TagDatabase) -> None:
    info = danbooru_db.get_tag_info(["1girls", "no_such_tag_xyz", "Photo (medium)"])
    assert info["1girls"].name == "1girl"
    assert info["1girls"].alias_of_input
    assert info["Photo (medium)"].name == "photo_(medium)"
    assert "no_such_tag_xyz" not in info


def test_aliases_of_lists_alternative_spellings(danbooru_db: TagDatabase) -> None:
    assert {"1girls", "sole_female"} <= set(danbooru_db.aliases_of(["1girl"])["1girl"])


def test_cleaner_resolves_alias_1girls(danbooru_db: TagDatabase) -> None:
    result = TagCleaner(danbooru_db).clean_detailed("1girls, long_hair")
    assert result.tags == ["1girl", "long hair"]
    assert result.renamed == {"1girls": "1girl"}


def test_cleaner_default_category_order(danbooru_db: TagDatabase) -> None:
    caption = "highres, smile, wlop, vocaloid, hatsune_miku, 1girls, solo, long_hair"
    assert TagCleaner(danbooru_db).clean(caption) == [
        "1girl",
        "solo",
        "hatsune miku",
        "vocaloid",
        "wlop",
        "smile",
        "long hair",
        "highres",
    ]


def test_cleaner_orders_general_by_confidence(danbooru_db: TagDatabase) -> None:
    tags = ["smile", "long_hair", "hatsune_miku", "highres"]
    conf = {"smile": 0.4, "long_hair": 0.95, "hatsune_miku": 0.9, "highres": 0.99}
    assert TagCleaner(danbooru_db).clean(tags, conf) == ["hatsune miku", "long hair", "smile", "highres"]


def test_cleaner_keeps_kaomoji_and_underscore_output(danbooru_db: TagDatabase) -> None:
    cleaner = TagCleaner(danbooru_db, spaces=False)
    assert cleaner.clean(["photo (medium)", "^_^", "long hair"]) == ["^_^", "long_hair", "photo_(medium)"]


def test_clean_many_matches_clean(danbooru_db: TagDatabase) -> None:
    cleaner = TagCleaner(danbooru_db)
    captions = ["1girls, smile", "highres, 1boy", ["long_hair", "long hair"]]
    assert cleaner.clean_many(captions) == [cleaner.clean(c) for c in captions]


def test_e621_types_map_to_categories_and_invalid_is_deprecated(tmp_db: TagDatabase, e621_csv: Path) -> None:
    # Real rows: the 2000 most used tags plus every lore (8) and invalid (6) tag of the list.
    lines = e621_csv.read_text(encoding="utf-8").splitlines(keepends=True)
    picked = lines[:2000] + [ln for ln in lines[2000:] if ln.split(",")[1] in ("6", "8")]
    sample = tmp_db.data_dir / "e621.csv"
    sample.write_text("".join(picked), encoding="utf-8")
    report = tmp_db.import_file(sample)
    assert report.format == "e621"
    info = tmp_db.get_tag_info(["mammal", "anthro", "hi_res"], format_name="e621")
    assert info["mammal"].category == "species"
    assert info["anthro"].category == "general"
    assert info["hi_res"].category == "meta"
    categories = {i.category for i in tmp_db.get_tag_info(_names(sample), format_name="e621").values()}
    assert {"species", "meta", "lore", "invalid"} <= categories
    invalid = next(
        i for i in tmp_db.get_tag_info(_names(sample), format_name="e621").values() if i.category == "invalid"
    )
    assert invalid.deprecated
    assert TagCleaner(tmp_db, format_name="e621").clean([invalid.name, "anthro"]) == ["anthro"]


def _names(path: Path) -> list[str]:
    return [line.split(",", 1)[0] for line in path.read_text(encoding="utf-8").splitlines()]


def test_reimport_is_idempotent(tmp_db: TagDatabase, danbooru_csv: Path, head_of: HeadOf) -> None:
    sample = head_of(danbooru_csv, tmp_db.data_dir / "danbooru.csv", 5000)
    tmp_db.import_file(sample)
    first = tmp_db.stats()
    tmp_db.import_file(sample)
    second = tmp_db.stats()
    assert first["formats"] == second["formats"]
    assert first["base"]["tags"] == second["base"]["tags"]
    assert first["base"]["aliases"] == second["base"]["aliases"]


def test_newer_vocabulary_replaces_older(tmp_db: TagDatabase, tmp_path: Path, write_csv: CsvWriter) -> None:
    old = write_csv(tmp_path / "danbooru_old.csv", [["gone_tag", "0", "5", "gone_alias"], ["kept", "0", "9", ""]])
    tmp_db.import_file(old, format_name="danbooru")
    new = write_csv(tmp_path / "danbooru_new.csv", [["kept", "0", "12", "kept_alias"]])
    tmp_db.import_file(new, format_name="danbooru")
    info = tmp_db.get_tag_info(["kept", "gone_tag", "kept_alias"])
    assert info["kept"].count == 12
    assert info["kept_alias"].name == "kept"
    assert [r.tag for r in tmp_db.search("gone")] == []


def test_deprecated_tags_are_dropped_and_hidden(tmp_db: TagDatabase, tmp_path: Path, write_csv: CsvWriter) -> None:
    vocab = write_csv(tmp_path / "danbooru.csv", [["old_tag", "0", "100", ""], ["new_tag", "0", "50", "old_alias"]])
    tmp_db.import_file(vocab)
    (tmp_path / "deprecated.txt").write_text("old_tag\n", encoding="utf-8")
    tmp_db.import_file(tmp_path / "deprecated.txt")
    assert TagCleaner(tmp_db).clean("old_tag, new_tag") == ["new tag"]
    assert TagCleaner(tmp_db, drop_deprecated=False).clean("old_tag, new_tag") == ["old tag", "new tag"]
    assert [r.tag for r in tmp_db.search("_tag")] == ["new_tag"]
    tmp_db.set_deprecated(["old_tag"], False)
    assert TagCleaner(tmp_db).clean("old_tag") == ["old tag"]


def test_wd_selected_tags_import(tmp_db: TagDatabase, tmp_path: Path, write_csv: CsvWriter) -> None:
    rows = [
        ["tag_id", "name", "category", "count"],
        ["9999999", "general", "9", "807691"],
        ["9999998", "sensitive", "9", "100"],
        ["470575", "1girl", "0", "4225150"],
        ["1", "hatsune_miku", "4", "100"],
        ["2", "bad", "x", "1"],
    ]
    report = tmp_db.import_file(write_csv(tmp_path / "selected_tags.csv", rows))
    assert report.kind == "wd"
    assert report.imported == 4
    assert report.error_count == 1
    assert "selected_tags.csv:6" in report.errors[0]
    info = tmp_db.get_tag_info(["general", "1girl", "hatsune miku"])
    assert info["general"].category == "rating"
    assert info["hatsune miku"].category == "character"


def test_translation_import_keeps_several_per_language(
    tmp_db: TagDatabase, tmp_path: Path, write_csv: CsvWriter
) -> None:
    tmp_db.import_file(write_csv(tmp_path / "danbooru.csv", [["long_hair", "0", "10", ""]]))
    rows = [
        ["tag", "language", "translation"],
        ["long_hair", "ja", "ロングヘア"],
        ["long hair", "ja", "長髪"],
        ["long_hair", "de", "lange Haare"],
        ["long_hair", "ja", ""],
    ]
    report = tmp_db.import_file(write_csv(tmp_path / "tr.csv", rows))
    assert report.kind == "translations"
    assert report.error_count == 1
    tr = tmp_db.translations_of(["long_hair"])["long_hair"]
    assert sorted(tr["ja"]) == sorted(["ロングヘア", "長髪"])
    assert tr["de"] == ["lange Haare"]
    assert tmp_db.search("長髪")[0].name == "long hair"
    assert tmp_db.search("長髪")[0].match == "translation"


def test_implications_import(tmp_db: TagDatabase, tmp_path: Path, write_csv: CsvWriter) -> None:
    rows = [["antecedent_name", "consequent_name"], ["hatsune_miku", "vocaloid"]]
    tmp_db.import_file(write_csv(tmp_path / "implications.csv", rows))
    assert tmp_db.implications_of(["hatsune_miku"]) == {"hatsune_miku": ["vocaloid"]}


def test_overlay_survives_base_replacement(tmp_path: Path, danbooru_csv: Path, head_of: HeadOf) -> None:
    data = tmp_path / "data"
    sample = head_of(danbooru_csv, tmp_path / "danbooru.csv", 2000)
    with TagDatabase(data) as db:
        db.import_file(sample)
        db.overlay.add_tag("my_oc", "character", count=5)
        db.overlay.add_alias("lh", "long_hair")
        db.overlay.add_translation("long_hair", "fr", "cheveux longs")
        db.overlay.blacklist_add(["watermark"])
    (data / "tags_base.sqlite").unlink()
    with TagDatabase(data) as db:
        assert db.stats()["base"]["tags"] == 0
        db.import_file(sample)
        assert TagCleaner(db).clean("lh, watermark, my_oc, 1girls") == ["1girl", "my oc", "long hair"]
        assert db.search("my_o")[0].name == "my oc"
        assert db.search("cheveux")[0].name == "long hair"
        assert "watermark" not in [r.tag for r in db.search("waterm")]


def test_bad_files_give_clear_errors(tmp_db: TagDatabase, tmp_path: Path, write_csv: CsvWriter) -> None:
    with pytest.raises(ImportFormatError, match="file not found"):
        tmp_db.import_file(tmp_path / "missing.csv")
    bad = tmp_path / "danbooru.csv"
    bad.write_bytes(b"caf\xe9,0,1,\n")
    with pytest.raises(ImportFormatError, match="not UTF-8"):
        tmp_db.import_file(bad)
    odd = write_csv(tmp_path / "words.csv", [["hello", "world"]])
    with pytest.raises(ImportFormatError, match="cannot tell the file type"):
        tmp_db.import_file(odd)
    unnamed = write_csv(tmp_path / "vocab.csv", [["tag", "0", "1", ""]])
    with pytest.raises(ImportFormatError, match="pass format"):
        tmp_db.import_file(unnamed)
    broken = write_csv(tmp_path / "danbooru2.csv", [["tag", "1", "many", ""]])
    with pytest.raises(ImportFormatError, match="no row could be imported"):
        tmp_db.import_file(broken)


def test_older_and_newer_database_files(tmp_path: Path) -> None:
    import sqlite3

    TagDatabase(tmp_path).close()
    with sqlite3.connect(tmp_path / "tags_user.sqlite") as conn:
        conn.execute("ALTER TABLE schema_info DROP COLUMN revision")  # layout before the revision counter
    with TagDatabase(tmp_path) as db:
        db.overlay.add_tag("my_oc", "character")
        assert db.overlay.revision == 1
    with sqlite3.connect(tmp_path / "tags_base.sqlite") as conn:
        conn.execute("UPDATE schema_info SET version = 99")
    with pytest.raises(TagDbError, match="newer genai-tag-db-tools"):
        TagDatabase(tmp_path)


def test_whitespace_only_rows_are_blank_lines_not_bad_rows(tmp_db: TagDatabase, tmp_path: Path) -> None:
    sample = tmp_path / "danbooru.csv"
    sample.write_text('long_hair,0,4350743,"longhair"\n   \n \t,\nsmile,0,3000000,\n', encoding="utf-8")
    report = tmp_db.import_file(sample, format_name="danbooru")
    assert (report.rows_read, report.imported, report.error_count) == (2, 2, 0)
