"""Aesthetic scorers v2 (CLIP-shaped) and v2.5 (SigLIP-shaped) on generated towers with numpy heads."""

from __future__ import annotations

from pathlib import Path

import image_annotator_lib as lib
import numpy as np
import pytest
from image_annotator_lib import ErrorCode, Score
from image_annotator_lib.local.imaging import CLIP_MEAN, CLIP_STD
from image_annotator_lib.testing.tiny_models import make_aesthetic_model, write_safetensors
from PIL import Image

COLOURS = [(255, 255, 255), (200, 30, 60), (10, 120, 250)]


def _images() -> list[Image.Image]:
    return [Image.new("RGB", (300, 200), colour) for colour in COLOURS]


def test_v2_and_v25_scores_are_exact_and_keep_their_names(tmp_path: Path) -> None:
    clip = make_aesthetic_model(tmp_path / "clip", "clip")
    siglip = make_aesthetic_model(tmp_path / "siglip", "siglip", head_format="npz", seed=1)
    lib.register_model(clip.spec("v2"))
    lib.register_model(siglip.spec("v25"))
    results = lib.annotate(_images(), ["v2", "v25"], ["a", "b", "c"])
    for key, colour in zip("abc", COLOURS, strict=True):
        rgb = np.array(colour) / 255.0
        v2, v25 = results[key]["v2"], results[key]["v25"]
        assert set(v2.scores) == {"aesthetic_v2"} and set(v25.scores) == {"aesthetic_v2_5"}
        assert v2.scores["aesthetic_v2"].value == pytest.approx(
            clip.expected_score((rgb - CLIP_MEAN) / CLIP_STD), abs=1e-4
        )
        assert v25.scores["aesthetic_v2_5"].value == pytest.approx(siglip.expected_score((rgb - 0.5) / 0.5), abs=1e-4)
        assert (v2.scores["aesthetic_v2"].scale_min, v2.scores["aesthetic_v2"].scale_max) == (1.0, 10.0)
        assert v2.device == "CPUExecutionProvider" and v2.framework == "onnxruntime"


def test_embedding_is_l2_normalised_before_the_head(tmp_path: Path) -> None:
    clip = make_aesthetic_model(tmp_path / "clip", "clip")
    lib.register_model(clip.spec("v2"))
    colour = np.array([200, 30, 60]) / 255.0
    got = lib.annotate([Image.new("RGB", (50, 50), (200, 30, 60))], ["v2"], ["k"])["k"]["v2"]
    raw = ((colour - CLIP_MEAN) / CLIP_STD) @ clip.projection.astype(np.float64)  # not normalised
    for weight, bias in clip.head:
        raw = raw @ weight.T + bias
    assert abs(got.scores["aesthetic_v2"].value - float(raw[0])) > 1.0


def test_wrong_embedding_output_and_head_width_are_load_errors(tmp_path: Path) -> None:
    clip = make_aesthetic_model(tmp_path / "clip", "clip")
    lib.register_model(clip.spec("bad-output", embedding_output="text_embeds"))
    result = lib.annotate([Image.new("RGB", (8, 8))], ["bad-output"], ["k"])["k"]["bad-output"]
    assert result.error is not None and result.error.code is ErrorCode.LOAD_FAILED
    assert "no output 'text_embeds'" in result.error.message and "image_embeds" in result.error.message

    siglip = make_aesthetic_model(tmp_path / "siglip", "siglip")
    # A 768-wide head against the 1152-wide SigLIP tower.
    write_safetensors(
        tmp_path / "siglip" / "head.safetensors",
        {"layers.0.weight": np.zeros((1, 768), np.float32), "layers.0.bias": np.zeros(1, np.float32)},
    )
    lib.register_model(siglip.spec("mismatch"))
    result = lib.annotate([Image.new("RGB", (8, 8))], ["mismatch"], ["k"])["k"]["mismatch"]
    assert (
        result.error is not None and "1152 features" in result.error.message and "expects 768" in result.error.message
    )


def test_head_without_layer_tensors_names_the_file(tmp_path: Path) -> None:
    clip = make_aesthetic_model(tmp_path / "clip", "clip")
    write_safetensors(tmp_path / "clip" / "head.safetensors", {"something.else": np.zeros(3, np.float32)})
    lib.register_model(clip.spec("nohead"))
    result = lib.annotate([Image.new("RGB", (8, 8))], ["nohead"], ["k"])["k"]["nohead"]
    assert result.error is not None and "head.safetensors" in result.error.message


def test_scores_of_v2_and_v25_are_separate_objects(tmp_path: Path) -> None:
    clip = make_aesthetic_model(tmp_path / "clip", "clip")
    lib.register_model(clip.spec("v2"))
    score = lib.annotate([Image.new("RGB", (8, 8))], ["v2"], ["k"])["k"]["v2"].scores["aesthetic_v2"]
    assert isinstance(score, Score) and 1.0 <= score.scale_min < score.scale_max
