"""A model's status is true: "ready" only when the files its back-end loads are on disk, and otherwise which
file is missing, where it was looked for, and the command that fetches it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import image_annotator_lib as lib
import pytest
from image_annotator_lib.core import registry as registry_module
from image_annotator_lib.testing.tiny_models import make_wd_tagger


@pytest.fixture(autouse=True)
def own_user_files(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """User files registered by other tests persist in the process: start from the bundled entries only."""
    monkeypatch.setattr(registry_module, "_user_files", [])
    lib.reload_registry()
    yield
    monkeypatch.undo()
    lib.reload_registry()


@pytest.fixture
def restore_download_command() -> Iterator[None]:
    yield
    lib.set_download_command(None)


def _register(tmp_path: Path, body: str) -> None:
    path = tmp_path / "user_models.toml"
    path.write_text(body, encoding="utf-8")
    lib.register_model_file(path)


def _status(name: str) -> lib.ModelStatus:
    return {s.name: s for s in lib.list_available_models()}[name]


def test_local_dir_without_file_list_is_not_ready_when_empty(tmp_path: Path) -> None:
    """A user entry naming only the folder: the WD back-end still needs model.onnx and selected_tags.csv."""
    folder = tmp_path / "my-wd"
    folder.mkdir()
    entry = f'[models."my-wd"]\nkind = "tagger"\nframework = "wd-onnx"\nlocal_dir = "{folder.as_posix()}"\n'
    _register(tmp_path, entry)
    status = _status("my-wd")
    assert not status.available and not status.installed
    [need] = status.needs
    assert "model.onnx" in need and "selected_tags.csv" in need and str(folder) in need


def test_local_dir_that_does_not_exist_says_so(tmp_path: Path) -> None:
    folder = tmp_path / "nowhere"
    _register(
        tmp_path,
        f'[models."gone"]\nkind = "tagger"\nframework = "wd-onnx"\nlocal_dir = "{folder.as_posix()}"\n'
        'files = ["model.onnx", "selected_tags.csv"]\n',
    )
    [need] = _status("gone").needs
    assert f"folder {folder} does not exist" in need and "model.onnx" in need


def test_local_dir_with_its_files_is_ready_and_one_missing_file_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "tiny"
    make_wd_tagger(folder)
    _register(tmp_path, f'[models."tiny"]\nkind = "tagger"\nframework = "wd-onnx"\nlocal_dir = "{folder.as_posix()}"\n')
    assert _status("tiny").available
    (folder / "selected_tags.csv").unlink()
    [need] = _status("tiny").needs
    assert need == f"files: selected_tags.csv not found in {folder}"


def test_download_hint_names_the_embedding_application(restore_download_command: None) -> None:
    status = _status("wd-vit-tagger-v3")  # nothing in the test's empty HF cache
    assert "python -m image_annotator_lib download wd-vit-tagger-v3" in status.needs[0]
    lib.set_download_command("lorairo models download {name}")
    status = _status("wd-vit-tagger-v3")
    assert "lorairo models download wd-vit-tagger-v3" in status.needs[0]
    assert "image_annotator_lib" not in status.needs[0]
    with pytest.raises(ValueError, match="placeholder"):
        lib.set_download_command("lorairo models download")


def test_download_of_an_empty_local_folder_names_what_is_missing(tmp_path: Path) -> None:
    """Nothing to download for a local folder, but the command must not report success for an empty one."""
    folder = tmp_path / "empty"
    folder.mkdir()
    entry = f'[models."empty"]\nkind = "tagger"\nframework = "wd-onnx"\nlocal_dir = "{folder.as_posix()}"\n'
    _register(tmp_path, entry)
    with pytest.raises(lib.MissingFilesError, match=r"has no model\.onnx, selected_tags\.csv"):
        lib.download_model("empty")
    make_wd_tagger(folder)
    assert set(lib.download_model("empty")) == {"model.onnx", "selected_tags.csv"}


def test_extra_install_hint_names_the_embedding_application(restore_download_command: None) -> None:
    lib.set_extra_install_command("pip install 'lorairo[{extra}]'")
    try:
        from image_annotator_lib.core.hints import extra_install_command

        assert extra_install_command("captioners") == "pip install 'lorairo[captioners]'"
    finally:
        lib.set_extra_install_command(None)
    from image_annotator_lib.core.hints import extra_install_command

    assert extra_install_command("captioners") == "pip install 'image-annotator-lib[captioners]'"
