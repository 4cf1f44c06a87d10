"""Background removal (matte models) on generated RMBG- and BiRefNet-shaped ONNX models."""

from __future__ import annotations

from pathlib import Path

import image_annotator_lib as lib
import numpy as np
import pytest
from image_annotator_lib import ErrorCode
from image_annotator_lib.core.types import ModelKind
from image_annotator_lib.local.matte import BackgroundRemover, to_uint8
from image_annotator_lib.testing.tiny_models import make_matte_model
from PIL import Image

SIZE = 32


def _pattern(size: int = SIZE) -> np.ndarray:
    """A red square on a blue field, and a red-ish column just around both styles' thresholds (123..130)."""
    rgb = np.zeros((size, size, 3), np.uint8)
    rgb[..., 2] = 200
    rgb[8:24, 8:24, 0] = 230
    for x, red in enumerate(range(123, 131)):
        rgb[0:4, x, 0] = red
    return rgb


@pytest.mark.parametrize("style", ["rmbg", "birefnet"])
def test_matte_is_exact_for_an_image_of_the_model_size(tmp_path: Path, style: str) -> None:
    tiny = make_matte_model(tmp_path / style, style, size=SIZE)
    lib.register_model(tiny.spec("m"))
    rgb = _pattern()
    result = lib.annotate([Image.fromarray(rgb)], ["m"], ["k"])["k"]["m"]
    assert result.ok, result.error
    assert result.matte is not None and result.matte.dtype == np.uint8 and result.matte.shape == (SIZE, SIZE)
    np.testing.assert_array_equal(result.matte, tiny.expected(rgb))
    # The thresholds differ by normalisation: RMBG (mean 0.5, std 1) needs red >= 128, ImageNet red >= 124.
    first_fg = 128 if style == "rmbg" else 124
    assert [bool(v) for v in result.matte[0, :8] > 127] == [r >= first_fg for r in range(123, 131)]


def test_preprocess_shape_and_normalisation(tmp_path: Path) -> None:
    for style, mean, std in (("rmbg", 0.5, 1.0), ("birefnet", 0.485, 0.229)):
        tiny = make_matte_model(tmp_path / style, style, size=SIZE)
        remover = BackgroundRemover(tiny.spec())
        remover.load()
        arr = remover.preprocess(Image.new("RGB", (300, 100), (255, 0, 51)))
        assert arr.shape == (3, SIZE, SIZE) and arr.dtype == np.float32
        assert arr[0].mean() == pytest.approx((1.0 - mean) / std, abs=1e-5)
        assert arr[1].mean() == pytest.approx((0.0 - tiny.spec().options["mean"][1]) / tiny.spec().options["std"][1])
        assert arr[2].mean() == pytest.approx((0.2 - tiny.spec().options["mean"][2]) / tiny.spec().options["std"][2])


def test_matte_is_resized_back_to_each_image_and_min_max_normalised(tmp_path: Path) -> None:
    tiny = make_matte_model(tmp_path / "rmbg", "rmbg", size=SIZE)
    lib.register_model(tiny.spec("m", batch_size=3))
    left_red = np.zeros((90, 200, 3), np.uint8)
    left_red[:, :100, 0] = 255
    images = [Image.fromarray(left_red), Image.new("RGB", (17, 41), (255, 0, 0)), Image.new("RGB", (64, 64), "blue")]
    results = lib.annotate(images, ["m"], ["a", "b", "c"])
    a, b, c = (results[k]["m"].matte for k in "abc")
    assert a is not None and b is not None and c is not None
    assert a.shape == (90, 200) and b.shape == (41, 17) and c.shape == (64, 64)
    # Bilinear back to the image, then min-max: the left half is 255, the right 0, with a soft seam between.
    assert a.min() == 0 and a.max() == 255
    assert (a[:, :90] == 255).all() and (a[:, 110:] == 0).all()
    assert (b == 255).all() and (c == 0).all()  # flat outputs keep their value (no division by zero)


def test_exif_rotated_image_gets_an_upright_matte(tmp_path: Path) -> None:
    tiny = make_matte_model(tmp_path / "rmbg", "rmbg", size=SIZE)
    lib.register_model(tiny.spec("m"))
    stored = np.zeros((40, 80, 3), np.uint8)
    stored[:, :40, 0] = 255  # left half red as stored
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display: the stored left half becomes the top
    Image.fromarray(stored).save(path, exif=exif, quality=100)
    with Image.open(path) as image:
        matte = lib.annotate([image], ["m"], ["k"])["k"]["m"].matte
    assert matte is not None and matte.shape == (80, 40)
    assert (matte[:30] == 255).all() and (matte[50:] == 0).all()


def test_fixed_batch_model_and_a_broken_image_in_a_batch(tmp_path: Path) -> None:
    tiny = make_matte_model(tmp_path / "bir", "birefnet", size=SIZE, batch=1)  # real exports are often batch 1
    lib.register_model(tiny.spec("m", batch_size=4))
    broken = Image.new("RGB", (0, 0))
    rgb = _pattern()
    results = lib.annotate([Image.fromarray(rgb), broken, Image.fromarray(rgb)], ["m"], ["a", "b", "c"])
    assert results["b"]["m"].error is not None and results["b"]["m"].error.code is ErrorCode.INVALID_IMAGE
    for key in "ac":
        np.testing.assert_array_equal(results[key]["m"].matte, tiny.expected(rgb))


def test_bad_options_and_a_missing_output_are_load_errors(tmp_path: Path) -> None:
    tiny = make_matte_model(tmp_path / "rmbg", "rmbg", size=SIZE)
    lib.register_model(tiny.spec("no-output", output="logits"))
    lib.register_model(tiny.spec("bad-std", std=[1.0, 0.0, 1.0]))
    for name, text in (("no-output", "no output 'logits'"), ("bad-std", "'std' must not contain 0")):
        result = lib.annotate([Image.new("RGB", (8, 8))], [name], ["k"])["k"][name]
        assert result.error is not None and result.error.code is ErrorCode.LOAD_FAILED
        assert text in result.error.message


def test_to_uint8_truncates_like_the_reference() -> None:
    out = to_uint8(np.array([[0.0, 0.5], [0.999, 1.0]], np.float32), (2, 2), rescale="clip")
    np.testing.assert_array_equal(out, [[0, 127], [254, 255]])


def test_bundled_matte_models_are_listed_with_their_status() -> None:
    statuses = {s.name: s for s in lib.list_available_models()}
    for name, repo in (("rmbg-1.4", "briaai/RMBG-1.4"), ("birefnet-lite", "onnx-community/BiRefNet_lite-ONNX")):
        status = statuses[name]
        assert status.kind is ModelKind.MATTE and status.framework == "matte-onnx"
        assert not status.installed and not status.available  # an empty HF cache: the file must be fetched
        assert any("onnx/model.onnx" in need for need in status.needs)
        assert lib.get_registry().get(name).source.repo_id == repo


def test_matte_model_from_a_local_folder_is_installed(tmp_path: Path) -> None:
    tiny = make_matte_model(tmp_path / "rmbg", "rmbg", size=SIZE)
    lib.register_model(tiny.spec("local-rmbg"))
    status = next(s for s in lib.list_available_models() if s.name == "local-rmbg")
    assert status.installed and status.available
