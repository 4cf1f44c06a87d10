"""The near-duplicate search through the pHash band indexes finds exactly what a brute-force scan finds (issue 20).

An import into a 1M-image project no longer reads every pHash: `BandFinder` asks the three expression indexes
of `images.phash_int` for the band values within ``threshold // 3`` bits of the new hash (pigeonhole) and checks
the exact distance of what they return. These tests hold it to a plain reference on hashes with planted
neighbours at every distance up to the threshold and one bit past it, on a real project database.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import text

from lorairo.database.import_repository import ImportRepository
from lorairo.database.schema import PHASH_BANDS
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.importing.near_duplicates import (
    MAX_BANDED_THRESHOLD,
    BandFinder,
    PhashIndex,
    ScanFinder,
    band_tolerance,
    finder_for,
)
from lorairo.services.project_service import Project, ProjectService
from tests.support import images as gen

_MASK64 = (1 << 64) - 1


@pytest.fixture
def project() -> Iterator[Project]:
    opened = ProjectService(ConfigurationService()).create("phash-bands")
    yield opened
    opened.close()


def _signed(unsigned: int) -> int:
    return unsigned - (1 << 64) if unsigned >> 63 else unsigned


def _reference(hashes: dict[int, int], query_id: int, query: int, threshold: int) -> list[tuple[int, int]]:
    """Every earlier image within the threshold, nearest then lowest id first, five at most (plain Python)."""
    found = []
    for image_id, other in hashes.items():
        distance = bin((query ^ other) & _MASK64).count("1")
        if image_id < query_id and distance <= threshold:
            found.append((distance, image_id))
    return [(image_id, distance) for distance, image_id in sorted(found)[:5]]


def _insert(project: Project, hashes: dict[int, int]) -> None:
    rows = [
        {"id": i, "path": f"images/{i}.png", "sha": f"{i:064x}", "phash": f"{h & _MASK64:016x}", "int": _signed(h)}
        for i, h in hashes.items()
    ]
    with project.db.session(write=True) as session:
        session.execute(text("DELETE FROM images"))
        session.execute(
            text(
                "INSERT INTO images (id, file_path, file_name, original_path, stored_in_project, file_size, width,"
                " height, format, mode, has_alpha, exif_orientation, hash_value, phash, phash_int, excluded,"
                " created_at, updated_at) VALUES (:id, :path, :path, :path, 1, 1, 8, 8, 'PNG', 'RGB', 0, 1, :sha,"
                " :phash, :int, 0, '2026-01-01', '2026-01-01')"
            ),
            rows,
        )


def _flip(value: int, bits: list[int]) -> int:
    for bit in bits:
        value ^= 1 << bit
    return value


@st.composite
def planted(draw: st.DrawFn) -> tuple[int, dict[int, int], int]:
    """A threshold, random hashes, and neighbours of a query hash at every distance up to threshold + 1."""
    threshold = draw(st.integers(0, MAX_BANDED_THRESHOLD))
    query = draw(st.integers(0, _MASK64))
    hashes = draw(st.lists(st.integers(0, _MASK64), max_size=30))
    for distance in range(threshold + 2):
        # Flipped bits drawn anywhere: all in one band, spread over the three, on band edges.
        for _copy in range(draw(st.integers(1, 2))):
            bits = draw(st.lists(st.integers(0, 63), min_size=distance, max_size=distance, unique=True))
            hashes.append(_flip(query, bits))
    order = draw(st.permutations(range(len(hashes) + 1)))
    values = [*hashes, query]
    by_id = {position + 1: values[index] for position, index in enumerate(order)}
    query_id = next(i for i, index in zip(by_id, order, strict=True) if index == len(hashes))
    return threshold, by_id, query_id


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=planted())
def test_banded_search_equals_brute_force(project: Project, case: tuple[int, dict[int, int], int]) -> None:
    threshold, hashes, query_id = case
    _insert(project, hashes)
    with project.db.session() as session:
        repo = ImportRepository(session)
        # Every image as the query: the finder only looks below its id, like the writer's input order.
        for image_id, value in hashes.items():
            want = _reference(hashes, image_id, value, threshold)
            got = BandFinder(threshold).find(repo, image_id, _signed(value))
            assert [(m.image_id, m.distance) for m in got] == want, (image_id, threshold)
    # The planted neighbours are there: the query hash has a match at distance 0 at least.
    assert _reference(hashes, len(hashes) + 1, hashes[query_id], threshold)[0][1] == 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=planted(), cap=st.integers(0, 6))
def test_a_finder_that_switches_to_the_scan_midway_still_equals_brute_force(
    project: Project, case: tuple[int, dict[int, int], int], cap: int
) -> None:
    """Near-identical images make the bands unselective: past `max_candidates` rows the finder reads the
    earlier pHashes once and scans. Queried in id order like an import, the answers must not change."""
    threshold, hashes, _query_id = case
    _insert(project, hashes)
    finder = BandFinder(threshold, max_candidates=cap)
    with project.db.session() as session:
        repo = ImportRepository(session)
        for image_id in sorted(hashes):
            got = finder.find(repo, image_id, _signed(hashes[image_id]))
            assert [(m.image_id, m.distance) for m in got] == _reference(hashes, image_id, hashes[image_id], threshold)
    # With no candidate allowed the switch must have happened: the planted copy at distance 0 shares every band.
    assert finder.scan is not None or cap > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=planted())
def test_the_scan_finder_agrees_with_the_reference_too(project: Project, case: tuple[int, dict[int, int], int]) -> None:
    threshold, hashes, _query_id = case
    finder = ScanFinder(PhashIndex(), threshold)
    with project.db.session() as session:
        repo = ImportRepository(session)
        for image_id in sorted(hashes):  # added in id order, as an import adds them
            got = finder.find(repo, image_id, _signed(hashes[image_id]))
            assert [(m.image_id, m.distance) for m in got] == _reference(hashes, image_id, hashes[image_id], threshold)


def test_thresholds_past_the_bands_fall_back_to_the_scan(project: Project) -> None:
    assert band_tolerance(8) == 2 and band_tolerance(9) is None and MAX_BANDED_THRESHOLD == 8
    with project.db.session() as session:
        repo = ImportRepository(session)
        assert isinstance(finder_for(8, repo), BandFinder)
        assert isinstance(finder_for(9, repo), ScanFinder)
    with pytest.raises(ValueError, match="threshold 12"):
        BandFinder(12)


def test_each_band_is_read_through_its_index(project: Project) -> None:
    _insert(project, {i: random.Random(i).getrandbits(64) for i in range(1, 200)})
    conn = sqlite3.connect(project.db.path)
    try:
        for number, (shift, width) in enumerate(PHASH_BANDS):
            mask = (1 << width) - 1
            expr = f"(phash_int & {mask})" if shift == 0 else f"((phash_int >> {shift}) & {mask})"
            plan = " ".join(
                row[-1]
                for row in conn.execute(
                    f"EXPLAIN QUERY PLAN SELECT id, phash_int FROM images WHERE {expr} IN (1, 2, 3) AND id < 50"
                )
            )
            assert f"USING COVERING INDEX idx_images_phash_band{number}" in plan, plan
    finally:
        conn.close()


def test_a_removed_image_leaves_the_index(project: Project) -> None:
    query = random.Random(7).getrandbits(64)
    _insert(project, {1: query ^ 0b11, 2: query ^ (1 << 40), 3: query})
    with project.db.session(write=True) as session:
        session.execute(text("DELETE FROM images WHERE id = 1"))
    with project.db.session() as session:
        got = BandFinder(8).find(ImportRepository(session), 3, _signed(query))
    assert [(m.image_id, m.distance) for m in got] == [(2, 1)]
    conn = sqlite3.connect(project.db.path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)  # indexes agree with the table
    finally:
        conn.close()


@pytest.mark.parametrize("threshold", [8, 12])
def test_an_import_links_the_same_near_duplicates_banded_or_scanned(
    project: Project, tmp_path: Path, threshold: int
) -> None:
    """The default threshold searches the bands, 12 scans every pHash: a user sees the same links."""
    src = tmp_path / "src"
    src.mkdir()
    original = gen.photo_like(640, 480, seed=42)
    original.save(src / "a_original.png")
    original.resize((320, 240), Image.Resampling.LANCZOS).save(src / "b_resized.png")
    original.save(src / "c_recompressed.jpg", "JPEG", quality=60)
    gen.photo_like(640, 480, seed=43).save(src / "d_other.png")
    settings_file = tmp_path / "lorairo.toml"
    settings_file.write_text(f"[image_processing]\nnear_duplicate_threshold = {threshold}\n")
    config = ConfigurationService(config_path=settings_file)
    assert config.get("image_processing.near_duplicate_threshold") == threshold
    summary = ImageProcessingService(config, project).import_paths([src], jobs=1)
    outcome = {Path(o.path).name: o.outcome for o in summary.outcomes}
    assert outcome == {
        "a_original.png": "imported",
        "b_resized.png": "near_duplicate",
        "c_recompressed.jpg": "near_duplicate",
        "d_other.png": "imported",
    }
    conn = sqlite3.connect(project.db.path)
    try:
        links = conn.execute(
            "SELECT a.file_name, b.file_name FROM near_duplicates n JOIN images a ON a.id = n.image_id "
            "JOIN images b ON b.id = n.match_image_id"
        ).fetchall()
    finally:
        conn.close()
    assert ("b_resized.png", "a_original.png") in links and ("c_recompressed.jpg", "a_original.png") in links
