"""Discovery, storage layout and sidecars of an import."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from lorairo.services.importing.discovery import discover
from lorairo.storage.layout import original_relpath, safe_file_name, thumbnail_relpath
from lorairo.storage.sidecars import parse_tags, read_sidecars

EXTS = ["jpg", "jpeg", "png", "webp", "gif"]


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_discovery_recurses_filters_extensions_and_skips_hidden(tmp_path: Path) -> None:
    _touch(tmp_path / "a.JPG")
    _touch(tmp_path / "sub" / "deeper" / "b.png")
    _touch(tmp_path / "sub" / "notes.txt")
    _touch(tmp_path / ".hidden.png")
    _touch(tmp_path / ".cache" / "c.png")
    found = discover([tmp_path], EXTS)
    assert [Path(f.path).name for f in found.files] == ["a.JPG", "b.png"]
    assert all(Path(f.path).is_absolute() and f.size == 1 for f in found.files)


def test_discovery_survives_a_symlink_loop(tmp_path: Path) -> None:
    _touch(tmp_path / "root" / "x.png")
    (tmp_path / "root" / "loop").symlink_to(tmp_path / "root", target_is_directory=True)
    (tmp_path / "root" / "sub").mkdir()
    (tmp_path / "root" / "sub" / "up").symlink_to(tmp_path, target_is_directory=True)
    found = discover([tmp_path / "root"], EXTS)
    assert [Path(f.path).name for f in found.files] == ["x.png"]


def test_discovery_of_a_folder_without_images_and_a_given_file(tmp_path: Path) -> None:
    _touch(tmp_path / "empty" / "readme.md")
    single = _touch(tmp_path / "one.webp")
    assert discover([tmp_path / "empty"], EXTS).files == ()
    assert [f.path for f in discover([single, single], EXTS).files] == [str(single)]


def test_discovery_is_cancellable(tmp_path: Path) -> None:
    _touch(tmp_path / "a.png")
    cancel = threading.Event()
    cancel.set()
    assert discover([tmp_path], EXTS, cancel=cancel).cancelled


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("image.PNG", "image.png"),
        ("写真 01.jpg", "写真 01.jpg"),
        ('bad:name*?"<>|.jpg', "bad_name______.jpg"),
        ("line\nbreak.jpg", "line_break.jpg"),
    ],
)
def test_safe_file_name(name: str, expected: str) -> None:
    assert safe_file_name(name) == expected


def test_long_names_are_cut_at_a_character_boundary() -> None:
    name = safe_file_name("長" * 200 + ".jpeg")
    assert name.endswith(".jpeg") and len(name.encode("utf-8")) <= 180
    name.encode("utf-8").decode("utf-8")


def test_same_name_different_content_gets_different_paths() -> None:
    assert original_relpath("ab" * 32, "image.png") != original_relpath("cd" * 32, "image.png")
    assert original_relpath("ab" * 32, "image.png") == f"images/ab/{'ab' * 8}_image.png"
    assert thumbnail_relpath("ab" * 32, "webp") == f"thumbnails/ab/{'ab' * 32}.webp"


def test_tags_are_split_unescaped_normalised_and_merged() -> None:
    text = "long_hair, 1girl ,  photo \\(medium\\), ^_^,\nlong hair,, smile"
    assert parse_tags(text) == ("long hair", "1girl", "photo (medium)", "^_^", "smile")


def test_read_sidecars_beside_an_image(tmp_path: Path) -> None:
    image = _touch(tmp_path / "pic.jpg")
    (tmp_path / "pic.txt").write_text("\ufeffblue_sky, cloud", encoding="utf-8")
    (tmp_path / "pic.caption").write_text("  A blue sky\nwith clouds. ", encoding="utf-8")
    sidecar = read_sidecars(image)
    assert sidecar.tags == ("blue sky", "cloud")
    assert sidecar.caption == "A blue sky with clouds."
    assert read_sidecars(_touch(tmp_path / "other.jpg")).tags == ()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_pipe_named_like_an_image_is_listed_for_the_worker_to_report(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.jpg")
    assert [Path(f.path).name for f in discover([tmp_path], EXTS).files] == ["pipe.jpg"]
