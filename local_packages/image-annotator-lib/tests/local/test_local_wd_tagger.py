"""WD tagger back-end on generated WD-format models whose probabilities are known in advance."""

from __future__ import annotations

import threading
from pathlib import Path

import image_annotator_lib as lib
import numpy as np
import pytest
from image_annotator_lib import ErrorCode
from image_annotator_lib.core.registry import BACKENDS
from image_annotator_lib.testing.tiny_models import DEFAULT_TAGS, TinyWD, make_wd_tagger, write_tags_csv
from PIL import Image

WHITE, RED, BLUE = (255, 255, 255), (255, 0, 0), (0, 0, 255)
NAMES = [name for name, _ in DEFAULT_TAGS]
_CATEGORY = {0: "general", 3: "copyright", 4: "character", 5: "meta"}


def _run(tiny: TinyWD, colours: list[tuple[int, int, int]], name: str = "tiny-wd", **options):
    lib.register_model(tiny.spec(name, **options))
    # 32 x 24 pads to the model's own 32 x 32, so no resize blurs the mean the model sees.
    images = [Image.new("RGB", (32, 24), colour) for colour in colours]
    keys = [f"img{i}" for i in range(len(images))]
    results = lib.annotate(images, [name], keys)
    return [results[key][name] for key in keys]


def _expected(tiny: TinyWD, colour: tuple[int, int, int]) -> np.ndarray:
    # Padding to a square adds white: 32x24 -> 32x32 keeps 768 image pixels of 1024.
    mean_rgb = (np.array(colour) * 768 + 255 * 256) / 1024
    return tiny.expected_probs(mean_rgb[::-1])


def test_tags_categories_and_confidences_are_exact(tiny_wd: TinyWD) -> None:
    white, red, blue = _run(tiny_wd, [WHITE, RED, BLUE])
    assert white.ok and white.framework == "onnxruntime" and white.device == "CPUExecutionProvider"
    for result, colour in ((white, WHITE), (red, RED), (blue, BLUE)):
        probs = _expected(tiny_wd, colour)
        for tag in result.candidates:
            assert tag.confidence == pytest.approx(probs[NAMES.index(tag.name)], abs=1e-5)
    assert [(t.name, t.category) for t in white.tags] == [
        ("white_background", "general"),
        ("simple_background", "general"),
        ("1girl", "general"),
        ("vocaloid", "copyright"),
    ]
    for result, colour in ((red, RED), (blue, BLUE)):
        probs = _expected(tiny_wd, colour)
        limit = {"general": 0.35, "character": 0.85, "copyright": 0.35, "meta": 0.35}
        expected = [n for n, c in DEFAULT_TAGS if c != 9 and probs[NAMES.index(n)] >= limit[_CATEGORY[c]]]
        assert {t.name for t in result.tags} == set(expected)
    assert [t.name for t in red.tags][:2] == ["red_theme", "kagamine_rin"]
    assert {t.name: t.category for t in red.tags}["kagamine_rin"] == "character"
    assert [t.name for t in blue.tags][:2] == ["blue_theme", "hatsune_miku"]
    confidences = [t.confidence for t in blue.tags]
    assert confidences == sorted(confidences, reverse=True)


def test_rating_is_argmax_of_rating_rows_with_probabilities(tiny_wd: TinyWD) -> None:
    white, red = _run(tiny_wd, [WHITE, RED])
    assert white.rating is not None and white.rating.label == "general"
    assert red.rating is not None and red.rating.label == "sensitive"
    assert set(red.rating.probabilities) == {"general", "sensitive", "questionable", "explicit"}
    assert not any(t.category == "rating" for t in red.tags + red.candidates)


def test_candidates_keep_everything_above_point_one(tiny_wd: TinyWD) -> None:
    (white,) = _run(tiny_wd, [WHITE])
    probs = _expected(tiny_wd, WHITE)
    expected = {
        n for n, (name, cat) in zip(NAMES, DEFAULT_TAGS, strict=True) if cat != 9 and probs[NAMES.index(n)] >= 0.1
    }
    assert {t.name for t in white.candidates} == expected
    assert "solo" in expected and "solo" not in {t.name for t in white.tags}  # 0.19: candidate, not a tag


def test_threshold_options_and_max_tags(tiny_wd: TinyWD) -> None:
    (strict,) = _run(tiny_wd, [WHITE], "strict", general_threshold=0.7, copyright_threshold=0.9)
    assert [t.name for t in strict.tags] == ["white_background", "simple_background"]
    (capped,) = _run(tiny_wd, [RED], "capped", max_tags=1)
    assert [t.name for t in capped.tags] == ["red_theme"]


def test_mcut_thresholds_with_character_floor(tiny_wd: TinyWD) -> None:
    (result,) = _run(tiny_wd, [BLUE], "mcut", use_mcut=True)
    probs = _expected(tiny_wd, BLUE)
    general = np.sort([probs[i] for i, (_, c) in enumerate(DEFAULT_TAGS) if c == 0])[::-1]
    t = int(np.argmax(general[:-1] - general[1:]))
    cut = (general[t] + general[t + 1]) / 2
    selected_general = {t.name for t in result.tags if t.category == "general"}
    assert selected_general == {n for i, (n, c) in enumerate(DEFAULT_TAGS) if c == 0 and probs[i] >= cut}
    assert "hatsune_miku" in {t.name for t in result.tags}


def test_fixed_batch_models_give_the_same_results(tmp_path: Path, tiny_wd: TinyWD) -> None:
    colours = [WHITE, RED, BLUE, RED, WHITE]
    dynamic = _run(tiny_wd, colours, "dyn", batch_size=5)
    for fixed in (1, 3):
        tiny = make_wd_tagger(tmp_path / f"fixed{fixed}", batch=fixed)
        results = _run(tiny, colours, f"fixed{fixed}", batch_size=5)
        for a, b in zip(dynamic, results, strict=True):
            assert [(t.name, round(t.confidence or 0, 6)) for t in a.candidates] == [
                (t.name, round(t.confidence or 0, 6)) for t in b.candidates
            ]


def test_input_size_is_read_from_the_model(tmp_path: Path) -> None:
    tiny = make_wd_tagger(tmp_path / "big", size=64)
    lib.register_model(tiny.spec("big"))
    annotator = lib.get_model_cache().get(lib.get_registry().get("big"))
    assert annotator.image_size == 64  # type: ignore[attr-defined]


def test_folder_without_csv_names_the_missing_file(tmp_path: Path) -> None:
    tiny = make_wd_tagger(tmp_path / "nocsv", write_csv=False)
    (result,) = _run(tiny, [WHITE], "nocsv")
    assert result.error is not None and result.error.code is ErrorCode.MISSING_FILES
    assert "selected_tags.csv" in result.error.message and str(tmp_path / "nocsv") in result.error.message


def test_csv_with_wrong_row_count_is_a_clear_error(tmp_path: Path) -> None:
    tiny = make_wd_tagger(tmp_path / "mismatch")
    write_tags_csv(tmp_path / "mismatch" / "selected_tags.csv", DEFAULT_TAGS[:-2])
    (result,) = _run(tiny, [WHITE], "mismatch")
    assert result.error is not None and result.error.code is ErrorCode.LOAD_FAILED
    assert "12 tag rows" in result.error.message and "outputs 14" in result.error.message


def test_csv_with_bad_category_names_the_line(tmp_path: Path) -> None:
    tiny = make_wd_tagger(tmp_path / "badcat")
    path = tmp_path / "badcat" / "selected_tags.csv"
    lines = path.read_text().splitlines()
    lines[3] = "1,general_x,oops,5"
    path.write_text("\n".join(lines) + "\n")
    (result,) = _run(tiny, [WHITE], "badcat")
    assert result.error is not None and "line 4" in result.error.message and "oops" in result.error.message


def test_bad_image_fails_alone_and_other_models_keep_their_results(tiny_wd: TinyWD) -> None:
    lib.register_model(tiny_wd.spec("tiny-wd", batch_size=2))
    broken = Image.new("RGB", (4, 4))
    broken.load = lambda: (_ for _ in ()).throw(OSError("image file is truncated"))  # type: ignore[method-assign]
    images = [Image.new("RGB", (8, 8), WHITE), broken, Image.new("RGB", (8, 8), RED)]
    results = lib.annotate(images, ["tiny-wd", "no-such-model"], ["a", "b", "c"])
    assert results["a"]["tiny-wd"].ok and results["c"]["tiny-wd"].ok
    assert results["b"]["tiny-wd"].error is not None
    assert results["b"]["tiny-wd"].error.code is ErrorCode.INVALID_IMAGE
    assert "truncated" in results["b"]["tiny-wd"].error.message
    assert all(results[k]["no-such-model"].error.code is ErrorCode.MODEL_NOT_FOUND for k in "abc")  # type: ignore[union-attr]


def test_awkward_modes_run_through_the_model(tiny_wd: TinyWD) -> None:
    lib.register_model(tiny_wd.spec("tiny-wd"))
    images = [
        Image.new("RGB", (1, 1), RED),
        Image.new("LA", (5, 3), (0, 0)),
        Image.new("CMYK", (5, 3), (0, 0, 0, 0)),
        Image.fromarray(np.full((3, 5), 65535, dtype=np.uint16)),
        Image.new("RGB", (9000, 2), BLUE),
    ]
    results = lib.annotate(images, ["tiny-wd"], list("abcde"))
    assert all(results[k]["tiny-wd"].ok for k in "abcde")
    # Fully transparent LA, white CMYK and full-scale 16-bit all become white.
    white_tags = [t.name for t in results["b"]["tiny-wd"].tags]
    assert white_tags[0] == "white_background"
    assert [t.name for t in results["c"]["tiny-wd"].tags] == white_tags
    assert [t.name for t in results["d"]["tiny-wd"].tags] == white_tags


def test_progress_counts_and_cancel_marks_the_rest(tiny_wd: TinyWD) -> None:
    lib.register_model(tiny_wd.spec("tiny-wd", batch_size=2))
    images = [Image.new("RGB", (8, 8), WHITE) for _ in range(6)]
    seen: list[tuple[int, int]] = []
    cancel = threading.Event()

    def progress(done: int, total: int, _message: str) -> None:
        seen.append((done, total))
        if done >= 2:
            cancel.set()

    keys = [str(i) for i in range(6)]
    results = lib.annotate(images, ["tiny-wd"], keys, progress=progress, cancel=cancel)
    assert seen[0] == (2, 6) and seen[-1][0] == 6
    codes = [results[k]["tiny-wd"].error.code if results[k]["tiny-wd"].error else None for k in keys]
    assert codes[:2] == [None, None] and codes[2:] == [ErrorCode.CANCELLED] * 4


def test_model_stays_loaded_between_calls(tiny_wd: TinyWD) -> None:
    _run(tiny_wd, [WHITE])
    first = lib.get_model_cache().get(lib.get_registry().get("tiny-wd"))
    _run(tiny_wd, [RED])
    assert lib.get_model_cache().get(lib.get_registry().get("tiny-wd")) is first


PLUGIN = """
from image_annotator_lib.core.base import BaseAnnotator
from image_annotator_lib.core.types import AnnotationResult


class FlakyAnnotator(BaseAnnotator):
    calls = 0

    def load(self):
        pass

    def annotate_batch(self, images, phashes, *, progress=None, cancel=None):
        type(self).calls += 1
        if type(self).calls == 2:
            raise RuntimeError("device lost")
        return [AnnotationResult(self.name, caption="fine") for _ in images]
"""


def test_runtime_failure_of_one_chunk_keeps_everything_else(
    tmp_path: Path, tiny_wd: TinyWD, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "flaky_plugin.py").write_text(PLUGIN, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(BACKENDS, "flaky", "unset:Unset")  # restored (removed) after the test
    lib.register_backend("flaky", "flaky_plugin:FlakyAnnotator")
    spec = tiny_wd.spec("flaky-model", batch_size=2)
    lib.register_model(type(spec)(**{**{f: getattr(spec, f) for f in spec.__slots__}, "framework": "flaky"}))
    lib.register_model(tiny_wd.spec("good"))
    keys = list("abcde")
    results = lib.annotate([Image.new("RGB", (8, 8), WHITE)] * 5, ["flaky-model", "good"], keys)
    outcome = [results[k]["flaky-model"].error.code if results[k]["flaky-model"].error else "ok" for k in keys]
    assert outcome == ["ok", "ok", ErrorCode.INFERENCE_FAILED, ErrorCode.INFERENCE_FAILED, "ok"]
    assert "device lost" in results["c"]["flaky-model"].error.message  # type: ignore[union-attr]
    assert all(results[k]["good"].ok and results[k]["good"].tags for k in keys)
