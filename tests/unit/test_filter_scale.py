"""Tag filters on a generated 20k-image project: the rarest-term-first SQL gives exactly the plain reference's
images, whatever order the terms were typed in, and its plan reads indexes only (no scan of the tags table).

The project is written in bulk SQL like bench/scale.py's (Zipf-like tags: a few on most images, most on few),
so the "rare" and "common" terms the planner hint distinguishes really differ by orders of magnitude.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from lorairo.database.engine import Database
from lorairo.database.schema import Base
from lorairo.services.filter_language import parse_filter
from lorairo.services.image_query_service import ImageQueryService, build_query

IMAGES = 20_000
VOCABULARY = 400


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Database, dict[int, set[str]], Path]]:
    path = tmp_path_factory.mktemp("filter-scale") / "database.db"
    db = Database(path)
    Base.metadata.create_all(db.write_engine)
    rng = random.Random(3)
    weights = [1 / (i + 1) for i in range(VOCABULARY)]
    keys = [f"tag_{i}" for i in range(VOCABULARY)]
    tags: dict[int, set[str]] = {}
    conn = sqlite3.connect(path)
    now = "2026-01-01 00:00:00.000000"
    conn.executemany(
        "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width, height, "
        "format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, 1, 1, 512, 512, 'PNG', 'RGB', 0, 1, ?, '0', 0, 0, ?, ?)",
        [(i, f"images/{i}.png", f"{i}.png", f"/d/{i}.png", f"h{i}", now, now) for i in range(1, IMAGES + 1)],
    )
    rows = []
    for i in range(1, IMAGES + 1):
        chosen = set(rng.choices(keys, weights, k=rng.randint(3, 10)))
        tags[i] = chosen
        rows += [(i, k.replace("_", " "), k, 0) for k in chosen]
        rejected = rng.choice(keys)
        if rejected not in chosen:  # a rejected tag row never matches (is_rejected = 1)
            rows.append((i, rejected, rejected, 1))
        if rng.random() < 0.05:  # the same tag twice (two models): still one image
            first = sorted(chosen)[0]
            rows.append((i, first.replace("_", " "), first, 0))
    conn.executemany(
        "INSERT INTO tags (image_id, tag, tag_key, source, is_rejected, created_at, updated_at) "
        "VALUES (?, ?, ?, 'model', ?, '2026-01-01', '2026-01-01')",
        rows,
    )
    conn.commit()
    conn.execute("ANALYZE")
    conn.close()
    yield db, tags, path
    db.dispose()


def _reference(tags: dict[int, set[str]], all_of: list[str], any_of: list[list[str]], none_of: list[str]) -> list[int]:
    return [
        i
        for i, have in sorted(tags.items())
        if all(k in have for k in all_of)
        and all(any(k in have for k in group) for group in any_of)
        and not any(k in have for k in none_of)
    ]


CASES = [
    # (filter text: terms separated by commas, all, any groups, none): common + rare in both orders, three
    # terms, OR groups, NOT
    ("tag_0", ["tag_0"], [], []),
    ("tag_0, tag_350", ["tag_0", "tag_350"], [], []),
    ("tag_350, tag_0", ["tag_350", "tag_0"], [], []),
    ("tag_1, tag_2, tag_120", ["tag_1", "tag_2", "tag_120"], [], []),
    ("tag_1|tag_390, tag_0", ["tag_0"], [["tag_1", "tag_390"]], []),
    ("tag_300|tag_301, tag_0|tag_1", [], [["tag_300", "tag_301"], ["tag_0", "tag_1"]], []),
    ("tag_5, -tag_0", ["tag_5"], [], ["tag_0"]),
    ("-tag_0, -tag_1", [], [], ["tag_0", "tag_1"]),
    ("tag_0, tag_1, -tag_2, tag_3|tag_200", ["tag_0", "tag_1"], [["tag_3", "tag_200"]], ["tag_2"]),
]


@pytest.mark.parametrize(("text", "all_of", "any_of", "none_of"), CASES, ids=[c[0] for c in CASES])
def test_filters_equal_the_plain_reference_in_any_term_order(
    project: tuple[Database, dict[int, set[str]], Path],
    text: str,
    all_of: list[str],
    any_of: list[list[str]],
    none_of: list[str],
) -> None:
    db, tags, _path = project
    service = ImageQueryService(db)
    expected = _reference(tags, all_of, any_of, none_of)
    assert service.query_ids(parse_filter(text)) == expected
    assert service.count(parse_filter(text)) == len(expected)
    # The plain order (no size estimates: terms as typed) means the same.
    sql, params = build_query(parse_filter(text))
    assert [int(v) for v in service._scalars(sql, params)] == expected


def _plan(path: Path, sql: str, params: dict[str, object]) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
    finally:
        conn.close()


def test_the_rarest_tag_drives_and_the_others_are_index_probes(
    project: tuple[Database, dict[int, set[str]], Path],
) -> None:
    db, _tags, path = project
    service = ImageQueryService(db)
    assert service.tag_size("tag_0") > service.tag_size("tag_350")
    sql, params = service.build(parse_filter("tag_0, tag_1, tag_350, -tag_2"))
    # the IN list (the only list SQLite materialises) is the rare tag's
    driver = sql.split("i.id IN (", 1)[1].split(")", 1)[0]
    assert params[driver.split(":", 1)[1].split()[0]] == "tag_350"
    plan = _plan(path, sql, params)
    assert not [step for step in plan if step.startswith("SCAN")], plan  # no full scan of any table
    probes = [step for step in plan if step.startswith("SEARCH t ")]
    assert probes and all("COVERING INDEX" in step for step in probes), plan  # never a table read per probe
    assert any("COVERING INDEX idx_tags_live (tag_key=?)" in step for step in plan), plan
    assert sum("LIST SUBQUERY" in step for step in plan) == 1, plan


def test_a_wildcard_probe_seeks_the_image_not_the_tag_range(
    project: tuple[Database, dict[int, set[str]], Path],
) -> None:
    db, _tags, path = project
    sql, params = ImageQueryService(db).build(parse_filter("tag_350, tag_1*"))
    plan = _plan(path, sql, params)
    assert any("idx_tags_image_live" in step and "image_id=?" in step for step in plan), plan


@pytest.mark.parametrize("cap", [1_000, 20_000], ids=["common tags walk", "all tags rare"])
@pytest.mark.parametrize(("text", "all_of", "any_of", "none_of"), CASES, ids=[c[0] for c in CASES])
def test_first_page_ids_array_and_count_equal_the_reference(
    project: tuple[Database, dict[int, set[str]], Path],
    text: str,
    all_of: list[str],
    any_of: list[list[str]],
    none_of: list[str],
    cap: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Both plans of the grid's query API: with a cap of 1,000 index entries the common tags (tag_0 is on
    ~60% of the 20k images) count as common, so first_page walks the images and ids_array / count combine
    per-term id lists, as at 1M; with the shipped cap every tag here is "rare" (IN lists)."""
    from lorairo.services import image_query_service

    monkeypatch.setattr(image_query_service, "TAG_SIZE_CAP", cap)
    db, tags, _path = project
    service = ImageQueryService(db)
    expected = _reference(tags, all_of, any_of, none_of)
    f = parse_filter(text)
    assert service.first_page(f) == expected[:200]
    assert service.first_page(f, limit=7) == expected[:7]
    assert service.ids_array(f).tolist() == expected
    assert service.count(f) == len(expected)


def test_the_first_page_of_a_common_tag_walks_the_sort_order_without_sorting(
    project: tuple[Database, dict[int, set[str]], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A common tag's first page is a walk of the sort index with probes and LIMIT: no IN list of the tag, no
    temporary b-tree for the ORDER BY (which would sort every matching image first)."""
    from lorairo.services import image_query_service

    monkeypatch.setattr(image_query_service, "TAG_SIZE_CAP", 1_000)
    db, _tags, path = project
    captured: list[tuple[str, dict[str, object]]] = []
    service = ImageQueryService(db)
    original = service._scalars

    def spy(sql: str, params: dict[str, object]) -> list[object]:
        captured.append((sql, params))
        return original(sql, params)

    monkeypatch.setattr(service, "_scalars", spy)
    for sort in ("import", "name", "tags", "score"):
        captured.clear()
        service.first_page(parse_filter("tag_0, -tag_1"), sort)
        sql, params = captured[-1]
        plan = _plan(path, sql, params)
        assert not [step for step in plan if "TEMP B-TREE" in step or "LIST SUBQUERY" in step], (sort, plan)
        assert plan[0].startswith("SCAN i"), (sort, plan)
