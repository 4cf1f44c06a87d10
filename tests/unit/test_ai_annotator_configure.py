"""Configuring the annotation library is a no-op when nothing changed (a rebuild drops user models for a moment,
which a run annotating in another thread must never see), and happens again when a model file changes."""

from __future__ import annotations

from pathlib import Path

import image_annotator_lib as lib
from image_annotator_lib import ModelKind, ModelSource, ModelSpec

from lorairo.annotations import ai_annotator


def _user_file(path: Path, name: str) -> None:
    path.write_text(
        f'[models."{name}"]\nkind = "tagger"\nframework = "wd-onnx"\n'
        f'[models."{name}".source]\nlocal_dir = "{path.parent.as_posix()}"\nfiles = ["model.onnx"]\n',
        encoding="utf-8",
    )


def test_unchanged_configuration_keeps_the_registry_and_a_changed_file_rebuilds_it(tmp_path: Path) -> None:
    models = tmp_path / "annotator_config.toml"
    _user_file(models, "user-tagger")
    settings = {"openai": {"timeout": 30, "base_url": ""}}
    ai_annotator.configure(settings, [models])
    assert "user-tagger" in lib.get_registry()

    # Something registered since (standing in for "the registry as a running annotation sees it").
    lib.register_model(ModelSpec("marker", ModelKind.TAGGER, "wd-onnx", ModelSource(local_dir=str(tmp_path))))
    ai_annotator.configure(settings, [models])
    assert "marker" in lib.get_registry()  # not rebuilt: nothing changed

    _user_file(models, "renamed-tagger")
    ai_annotator.configure(settings, [models])
    registry = lib.get_registry()
    assert "renamed-tagger" in registry and "marker" not in registry
