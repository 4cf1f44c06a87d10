"""The write-intent journal and the sweep: only journaled files without rows go, nothing outside the store."""

from __future__ import annotations

import os
from collections.abc import Collection
from pathlib import Path

import pytest

from lorairo.storage.layout import INTENTS_DIR, journaled_files, record_write_intent, sweep_orphans, temp_name


def _nothing_referenced(_paths: Collection[str]) -> set[str]:
    return set()


def _make(root: Path, rel: str, data: bytes = b"x") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_only_journaled_unreferenced_files_and_their_temporaries_are_removed(tmp_path: Path) -> None:
    orphan = _make(tmp_path, "images/ab/abababababababab_a.png")
    kept = _make(tmp_path, "images/ab/abababababababab_b.png")
    stranger = _make(tmp_path, "images/ab/cdcdcdcdcdcdcdcd_c.png")
    temp = _make(tmp_path, str(temp_name(orphan).relative_to(tmp_path)))
    other_temp = _make(tmp_path, "images/ab/.unrelated.png.77.part")
    for rel in ("images/ab/abababababababab_a.png", "images/ab/abababababababab_b.png"):
        record_write_intent(tmp_path, rel)

    removed = sweep_orphans(tmp_path, lambda paths: {p for p in paths if p.endswith("_b.png")})

    assert removed == 2 and not orphan.exists() and not temp.exists()
    assert kept.exists() and stranger.exists() and other_temp.exists()  # not journaled: not provably ours
    assert not list((tmp_path / INTENTS_DIR).iterdir())


def test_a_damaged_journal_can_never_name_a_file_outside_the_store(tmp_path: Path) -> None:
    database = _make(tmp_path, "database.db", b"precious")
    sidecar = _make(tmp_path, "images/../notes.txt", b"mine")
    journal = tmp_path / INTENTS_DIR / "1.log"
    journal.parent.mkdir()
    journal.write_bytes(
        b"database.db\nimages/../notes.txt\n/etc/passwd\nthumbnails//x\nimages/ab/half-written-na"  # no newline
    )
    half = _make(tmp_path, "images/ab/half-written-na")

    assert journaled_files(tmp_path)[1] == set()
    sweep_orphans(tmp_path, _nothing_referenced)
    assert database.read_bytes() == b"precious" and sidecar.read_bytes() == b"mine" and half.exists()


def test_the_sweep_looks_up_journaled_names_and_never_lists_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 1M images each image folder holds thousands of files: listing the folders a run wrote to made every
    import's sweep read all of them (issue 20). The sweep must cost what the journals name."""
    orphan = _make(tmp_path, "images/ab/abababababababab_a.png")
    temp = _make(tmp_path, str(temp_name(orphan).relative_to(tmp_path)))
    thumb = _make(tmp_path, "thumbnails/ab/abababababababab.jpg")
    strangers = [_make(tmp_path, f"images/ab/{i:016x}_x.png") for i in range(50)]
    for rel in ("images/ab/abababababababab_a.png", "thumbnails/ab/abababababababab.jpg"):
        record_write_intent(tmp_path, rel)

    listed: list[str] = []
    real_scandir, real_listdir = os.scandir, os.listdir

    def scandir(path: str | Path = ".") -> object:
        listed.append(str(path))
        return real_scandir(path)

    def listdir(path: str | Path = ".") -> list[str]:
        listed.append(str(path))
        return real_listdir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "listdir", listdir)
    removed = sweep_orphans(tmp_path, _nothing_referenced)
    monkeypatch.undo()

    assert removed == 3 and not orphan.exists() and not temp.exists() and not thumb.exists()
    assert all(p.exists() for p in strangers)
    assert [p for p in listed if INTENTS_DIR not in p] == []  # only the journals' folder was listed
