"""Model cache eviction and the pHash keys annotate() computes when none are given."""

from __future__ import annotations

from pathlib import Path

import image_annotator_lib as lib
import numpy as np
import pytest
from image_annotator_lib.core.cache import ModelCache
from image_annotator_lib.core.phash import phash
from image_annotator_lib.testing.tiny_models import TinyWD, make_wd_tagger
from PIL import Image


def test_lru_evicts_when_memory_reserve_is_not_met(tmp_path: Path, tiny_wd: TinyWD) -> None:
    other = make_wd_tagger(tmp_path / "other")
    cache = ModelCache(reserve_mb=0)
    a, b = tiny_wd.spec("a"), other.spec("b")
    cache.get(a)
    cache.get(b)
    assert cache.loaded() == ["a", "b"]
    cache.get(a)  # touch: b becomes least recently used
    assert cache.loaded() == ["b", "a"]
    cache.reserve_mb = 10**9  # no machine has this much available: every new load evicts the others first
    cache.get(tiny_wd.spec("c"))
    assert cache.loaded() == ["c"]


def test_max_models_and_spec_change_reload(tiny_wd: TinyWD) -> None:
    cache = ModelCache(reserve_mb=0, max_models=2)
    for name in ("a", "b", "c"):
        cache.get(tiny_wd.spec(name))
    assert cache.loaded() == ["b", "c"]
    first = cache.get(tiny_wd.spec("c"))
    assert cache.get(tiny_wd.spec("c", general_threshold=0.5)) is not first  # options changed: reloaded


def test_phash_matches_imagehash() -> None:
    imagehash = pytest.importorskip("imagehash")
    rng = np.random.default_rng(3)
    images = [Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)) for _ in range(3)]
    # A smooth picture (upscaled noise); exact gradients are left out: their DCT coefficients tie near zero.
    images.append(Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((160, 120)))
    for image in images:
        assert phash(image) == str(imagehash.phash(image))


def test_annotate_keys_by_phash_when_none_given(tiny_wd: TinyWD) -> None:
    lib.register_model(tiny_wd.spec("tiny-wd"))
    image = Image.new("RGB", (16, 16), "white")
    results = lib.annotate([image], ["tiny-wd"])
    assert list(results) == [phash(image)]
    with pytest.raises(ValueError, match="phash_list has 2 entries for 1 images"):
        lib.annotate([image], ["tiny-wd"], ["a", "b"])


def test_no_images_loads_nothing(tiny_wd: TinyWD) -> None:
    lib.register_model(tiny_wd.spec("tiny-wd"))
    assert lib.annotate([], ["tiny-wd"]) == {}
    assert "tiny-wd" not in lib.get_model_cache().loaded()
