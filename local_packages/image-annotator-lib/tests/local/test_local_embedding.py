"""CLIP / SigLIP embedding models (framework clip-onnx) on generated towers and a generated tokenizer.json."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import image_annotator_lib as lib
import numpy as np
import pytest
from image_annotator_lib import AnnotatorLoadError, ErrorCode, ModelKind
from image_annotator_lib.core.registry import get_registry
from image_annotator_lib.local.embedding import ClipEmbedder
from image_annotator_lib.testing.tiny_models import make_aesthetic_model, make_clip_embedder
from PIL import Image

COLOURS = {"red": (230, 20, 20), "green": (20, 200, 40), "blue": (20, 30, 220)}


def test_image_embeddings_are_the_towers_output_normalised(tmp_path: Path) -> None:
    tiny = make_clip_embedder(tmp_path / "clip")
    lib.register_model(tiny.spec())
    images = [Image.new("RGB", (120, 80), c) for c in COLOURS.values()]
    results = lib.annotate(images, ["tiny-clip"], list(COLOURS))
    for name, colour in COLOURS.items():
        result = results[name]["tiny-clip"]
        assert result.ok and result.tags == [] and result.scores == {}
        assert result.embedding.dtype == np.float32 and result.embedding.shape == (16,)
        np.testing.assert_allclose(result.embedding, tiny.expected_image_embedding(colour), atol=1e-4)
        assert result.device == "CPUExecutionProvider"


def test_text_tower_puts_a_word_where_its_colour_is(tmp_path: Path) -> None:
    tiny = make_clip_embedder(tmp_path / "clip")
    lib.register_model(tiny.spec())
    text = lib.embed_text("tiny-clip", ["a RED dress on a beach", "green", "blue sky"])
    assert text.shape == (3, 16)
    images = np.stack([tiny.expected_image_embedding(c) for c in COLOURS.values()])
    assert (text @ images.T).argmax(axis=1).tolist() == [0, 1, 2]  # unknown words ([UNK]) do not move it


def test_long_text_is_truncated_keeping_the_last_token_and_padding_is_masked(tmp_path: Path) -> None:
    tiny = make_clip_embedder(tmp_path / "clip")
    lib.register_model(tiny.spec(max_length=4, pad_to_max_length=True))
    short, long = lib.embed_text("tiny-clip", ["green", "blue blue blue blue blue green"])
    np.testing.assert_allclose(short, tiny.expected_image_embedding(COLOURS["green"]), atol=1e-4)
    # 4 tokens kept: three "blue" and the final "green"; padding of "green" (to 4) does not dilute it.
    expected = 3 * tiny.expected_image_embedding(COLOURS["blue"]) + tiny.expected_image_embedding(COLOURS["green"])
    assert float(long @ (expected / np.linalg.norm(expected))) > 0.98


def test_a_bad_image_fails_alone(tmp_path: Path) -> None:
    tiny = make_clip_embedder(tmp_path / "clip")
    lib.register_model(tiny.spec())
    broken = Image.new("RGB", (0, 0))
    results = lib.annotate([Image.new("RGB", (10, 10), (1, 2, 3)), broken], ["tiny-clip"], ["ok", "bad"])
    assert results["ok"]["tiny-clip"].embedding is not None
    assert results["bad"]["tiny-clip"].error is not None
    assert results["bad"]["tiny-clip"].error.code is ErrorCode.INVALID_IMAGE


def test_missing_text_tower_is_named_and_image_embeddings_still_work(tmp_path: Path) -> None:
    tiny = make_clip_embedder(tmp_path / "clip")
    (tiny.folder / "onnx" / "text_model.onnx").unlink()
    spec = tiny.spec()
    lib.register_model(dataclasses.replace(spec, source=dataclasses.replace(spec.source, files=CLIP_IMAGE_ONLY)))
    result = lib.annotate([Image.new("RGB", (10, 10), (9, 9, 9))], ["tiny-clip"], ["k"])["k"]["tiny-clip"]
    assert result.embedding is not None
    with pytest.raises(AnnotatorLoadError, match=r"text_model\.onnx is missing"):
        lib.embed_text("tiny-clip", ["red"])


CLIP_IMAGE_ONLY = ("onnx/vision_model.onnx", "tokenizer.json")


def test_models_without_a_text_tower_say_so(tmp_path: Path) -> None:
    aesthetic = make_aesthetic_model(tmp_path / "a")
    lib.register_model(aesthetic.spec("v2"))
    with pytest.raises(AnnotatorLoadError, match="no text tower"):
        lib.embed_text("v2", ["red"])


def test_aesthetic_scorer_returns_its_embedding_with_the_score(tmp_path: Path) -> None:
    aesthetic = make_aesthetic_model(tmp_path / "a")
    lib.register_model(aesthetic.spec("v2"))
    result = lib.annotate([Image.new("RGB", (64, 64), (200, 30, 60))], ["v2"], ["k"])["k"]["v2"]
    assert "aesthetic_v2" in result.scores
    assert result.embedding.shape == (768,)
    assert float(np.linalg.norm(result.embedding)) == pytest.approx(1.0, abs=1e-5)


def test_bundled_embedding_models_are_registered() -> None:
    registry = get_registry()
    spec = registry.get("clip-vit-b32-embed")
    assert spec.kind is ModelKind.EMBEDDING and spec.framework == "clip-onnx"
    assert spec.source.repo_id == "Xenova/clip-vit-base-patch32"
    assert spec.source.files == ("onnx/vision_model.onnx", "onnx/text_model.onnx", "tokenizer.json")
    assert registry.get("siglip-b16-embed").options["pad_to_max_length"] is True
    assert lib.core.registry.backend_class("clip-onnx") is ClipEmbedder
