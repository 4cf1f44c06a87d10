"""Progress and cancel hooks of TagDatabase.import_file (what the app's Tools > Tag vocabulary dialog uses)."""

from __future__ import annotations

from pathlib import Path

import pytest
from genai_tag_db_tools import ImportCancelled
from genai_tag_db_tools.database import TagDatabase
from genai_tag_db_tools.importers import ImportWatch


def _big_vocab(tmp_path: Path, rows: int = 12000) -> Path:
    path = tmp_path / "danbooru.csv"
    path.write_text("".join(f"tag_{i},0,{rows - i},\n" for i in range(rows)), encoding="utf-8")
    return path


def test_progress_is_reported_while_reading_then_writing(tmp_path: Path) -> None:
    seen: list[tuple[int, int, str]] = []
    vocab = _big_vocab(tmp_path)
    with TagDatabase(tmp_path / "db") as db:
        report = db.import_file(vocab, watch=ImportWatch(progress=lambda d, t, p: seen.append((d, t, p))))
    assert report.imported == 12000
    size = vocab.stat().st_size
    reading = [d for d, t, p in seen if p == "reading"]
    assert reading and reading == sorted(reading) and all(0 < d <= size for d in reading)
    assert seen[-1] == (size, size, "writing")


@pytest.mark.parametrize("cancel_after_checks", [1, 4])  # while reading; inside the transaction before commit
def test_cancel_writes_nothing_and_keeps_the_previous_vocabulary(tmp_path: Path, cancel_after_checks: int) -> None:
    vocab = _big_vocab(tmp_path)
    checks = 0

    def cancelled() -> bool:
        nonlocal checks
        checks += 1
        return checks >= cancel_after_checks

    with TagDatabase(tmp_path / "db") as db:
        (tmp_path / "old.csv").write_text("long_hair,0,100,\n", encoding="utf-8")
        db.import_file(tmp_path / "old.csv", format_name="danbooru")
        with pytest.raises(ImportCancelled):
            db.import_file(vocab, watch=ImportWatch(cancelled=cancelled))
        assert [r.name for r in db.search("long")] == ["long hair"]
        assert db.search("tag_1") == []
        assert len(db.imports()) == 1
    # 12000 rows = 2 checks while reading + 1 at the end of the file + 1 before commit.
    assert checks == cancel_after_checks
