"""Autocomplete over the full Danbooru list."""

from __future__ import annotations

from pathlib import Path

import pytest
from genai_tag_db_tools import SearchIndex, TagDatabase, search_tags


@pytest.mark.slow  # builds the search index over the full Danbooru list
def test_long_ha_returns_long_hair_first_with_count_and_aliases(danbooru_db: TagDatabase) -> None:
    results = danbooru_db.search("long ha")
    top = results[0]
    assert top.name == "long hair"
    assert top.tag == "long_hair"
    assert top.count == 4350743
    assert top.category == "general"
    assert set(top.aliases) >= {"/lh", "longhair"}
    assert "very long hair" in [r.name for r in results]


def test_underscores_and_spaces_are_the_same_query(danbooru_db: TagDatabase) -> None:
    assert [r.tag for r in danbooru_db.search("long_ha")] == [r.tag for r in danbooru_db.search("Long Ha")]


def test_results_are_ranked_by_usage_count(danbooru_db: TagDatabase) -> None:
    results = danbooru_db.search("hair", limit=30)
    counts = [r.count for r in results if r.match != "exact"]
    assert counts == sorted(counts, reverse=True)
    assert {r.match for r in results} >= {"substring"}


def test_alias_match_finds_the_canonical_tag(danbooru_db: TagDatabase) -> None:
    top = danbooru_db.search("1girls")[0]
    assert top.tag == "1girl"
    assert top.match == "alias"
    assert top.matched == "1girls"
    assert danbooru_db.search("sole_fem")[0].tag == "1girl"


def test_exact_tag_comes_first(danbooru_db: TagDatabase) -> None:
    # "collarbone" is used four times as often, but the user typed an existing tag.
    results = danbooru_db.search("collar")
    assert results[0].tag == "collar"
    assert results[0].match == "exact"
    assert results[1].tag == "collarbone"


def test_prefix_first_option(danbooru_db: TagDatabase) -> None:
    results = danbooru_db.search("l", prefix_first=True, limit=5)
    assert all(r.tag.startswith("l") for r in results)
    assert results[0].tag == "long_hair"


def test_parentheses_and_kaomoji_queries(danbooru_db: TagDatabase) -> None:
    assert danbooru_db.search("photo (med")[0].tag == "photo_(medium)"
    assert danbooru_db.search("^_^")[0].name == "^_^"


def test_no_match_and_empty_query(danbooru_db: TagDatabase) -> None:
    assert danbooru_db.search("zzqxjv") == []
    assert danbooru_db.search("   ") == []
    assert danbooru_db.search("long", limit=0) == []


def test_limit_is_respected(danbooru_db: TagDatabase) -> None:
    assert len(danbooru_db.search("a", limit=7)) == 7


def test_search_tags_function_uses_given_db(danbooru_db: TagDatabase) -> None:
    assert search_tags("long ha", db=danbooru_db, limit=1)[0].name == "long hair"


def test_index_handles_translations_and_equal_counts() -> None:
    index = SearchIndex(
        [("cat_ears", "general", 10), ("black_cat", "general", 10), ("cat", "general", 5)],
        aliases=[("nekomimi", "cat_ears")],
        translations=[("猫耳", "cat_ears")],
    )
    assert [r.tag for r in index.search("cat")] == ["cat", "cat_ears", "black_cat"]
    assert index.search("cat")[1].match == "prefix"
    assert index.search("neko")[0].tag == "cat_ears"
    assert index.search("猫")[0].match == "translation"


def test_index_follows_changes_made_by_another_instance(tmp_path: Path) -> None:
    # Two TagDatabase objects on one folder stand for the GUI and a `tag-db` process.
    vocab = tmp_path / "danbooru.csv"
    vocab.write_text("long_hair,0,100,\n", encoding="utf-8")
    with TagDatabase(tmp_path / "db", change_check_interval=0) as gui, TagDatabase(tmp_path / "db") as cli:
        cli.import_file(vocab)
        assert [r.tag for r in gui.search("long")] == ["long_hair"]
        cli.overlay.add_tag("longcat", "general", count=500)
        assert [r.tag for r in gui.search("long")] == ["longcat", "long_hair"]
        cli.overlay.blacklist_add(["longcat"])
        assert [r.tag for r in gui.search("long")] == ["long_hair"]
        vocab.write_text("long_hair,0,100,\nlong_sleeves,0,900,\n", encoding="utf-8")
        cli.import_file(vocab)
        assert [r.tag for r in gui.search("long")] == ["long_sleeves", "long_hair"]


def test_search_tags_default_database_is_reused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from genai_tag_db_tools import default_database

    monkeypatch.setenv("GENAI_TAG_DB_DIR", str(tmp_path / "default"))
    db = default_database()
    assert db is default_database()
    assert db.data_dir == tmp_path / "default"
    (tmp_path / "danbooru.csv").write_text("long_hair,0,100,\n", encoding="utf-8")
    db.import_file(tmp_path / "danbooru.csv")
    assert search_tags("long h")[0].name == "long hair"


def test_concurrent_searches_and_lookups(tmp_path: Path) -> None:
    import threading

    (tmp_path / "danbooru.csv").write_text('long_hair,0,100,"longhair"\nsolo,0,90,\n', encoding="utf-8")
    db = TagDatabase(tmp_path / "db")
    db.import_file(tmp_path / "danbooru.csv")
    results: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(20):
                results.append(db.search("long")[0].tag)
                results.append(db.get_tag_info(["longhair"])["longhair"].name)
        except BaseException as exc:  # collected and re-raised in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    db.close()
    assert not errors
    assert set(results) == {"long_hair"}
    assert len(results) == 160
