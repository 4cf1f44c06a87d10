"""Captioners without the `captioners` extra: listed as needing it, and annotate() returns NEEDS_EXTRA."""

from __future__ import annotations

import importlib.util

import image_annotator_lib as lib
import pytest
from image_annotator_lib import ErrorCode
from PIL import Image

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("torch") is not None, reason="the captioners extra is installed here"
)


def test_captioners_need_the_extra_and_never_crash() -> None:
    statuses = {s.name: s for s in lib.list_available_models()}
    for name in ("blip-large-captioner", "florence2-base-captioner"):
        assert not statuses[name].available
        assert any(need.startswith("extra: captioners") for need in statuses[name].needs)
    images = [Image.new("RGB", (8, 8)), Image.new("RGB", (9, 9), "red")]
    results = lib.annotate(images, ["blip-large-captioner", "florence2-base-captioner"], ["a", "b"])
    for key in "ab":
        for name in ("blip-large-captioner", "florence2-base-captioner"):
            error = results[key][name].error
            assert error is not None and error.code is ErrorCode.NEEDS_EXTRA
            assert "image-annotator-lib[captioners]" in error.message
