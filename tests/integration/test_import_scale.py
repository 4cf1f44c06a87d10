"""An import reads what is registered for the files it found, not for the whole project (issue 20).

At 1M images the old start of every import loaded one stamp per registered path (1M ORM rows) and the pHash
index through ORM tuples; these tests pin the by-path lookups and the numpy index so that an import's set-up
follows the import. Timings are in bench/scale.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lorairo.database.import_repository import ImportRepository
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.importing.near_duplicates import PhashIndex
from lorairo.services.project_service import Project, ProjectService
from tests.support import images as gen


@pytest.fixture
def project() -> Iterator[Project]:
    opened = ProjectService(ConfigurationService()).create("import-scale")
    yield opened
    opened.close()


def _folder(root: Path, name: str, seeds: range) -> list[Path]:
    folder = root / name
    folder.mkdir()
    return [gen.write_jpeg(folder / f"{name}_{seed}.jpg", 160, 120, seed=seed) for seed in seeds]


def test_stamps_are_read_for_the_paths_at_hand_only(project: Project, tmp_path: Path) -> None:
    old = _folder(tmp_path, "old", range(1, 5))
    new = _folder(tmp_path, "new", range(11, 13))
    config = ConfigurationService()
    ImageProcessingService(config, project).import_paths([tmp_path / "old"], jobs=1)
    with project.db.session() as session:
        repo = ImportRepository(session)
        asked = [str(old[0]), str(new[0])]
        stamps = repo.source_stamps(asked)
        assert set(stamps) == {str(old[0])}  # only what was asked and is registered; nothing else loaded
        assert stamps[str(old[0])].is_original
        ids, hashes = repo.phash_arrays()
        assert sorted(ids.tolist()) == sorted(i for i, _h in repo.phash_rows()) and len(hashes) == 4
    # A second import of both folders: the old files are recognised by their path, the new ones imported.
    summary = ImageProcessingService(config, project).import_paths([tmp_path / "old", tmp_path / "new"], jobs=1)
    assert summary.added == 2 and summary.total == 6


def test_the_near_duplicate_index_from_arrays_finds_what_from_rows_finds(project: Project, tmp_path: Path) -> None:
    _folder(tmp_path, "a", range(1, 6))
    ImageProcessingService(ConfigurationService(), project).import_paths([tmp_path / "a"], jobs=1)
    with project.db.session() as session:
        repo = ImportRepository(session)
        from_arrays = PhashIndex.from_arrays(*repo.phash_arrays())
        from_rows = PhashIndex.from_rows(repo.phash_rows())
        rows = repo.phash_rows()
    assert len(from_arrays) == len(from_rows) == 5
    for _image_id, phash in rows:
        assert from_arrays.query(phash, 10) == from_rows.query(phash, 10)
    from_arrays.add(99, rows[0][1])  # grows past the loaded size like the writer does
    assert {m.image_id for m in from_arrays.query(rows[0][1], 0)} >= {99, rows[0][0]}
