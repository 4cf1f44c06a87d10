"""Fixtures for the local-model tests: an isolated registry, model cache and Hugging Face environment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from image_annotator_lib import get_model_cache, reload_registry, set_download_command, set_extra_install_command
from image_annotator_lib.testing.tiny_models import TinyWD, make_wd_tagger


@pytest.fixture(autouse=True)
def isolated_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test: its own HF cache, online mode, no user config; registry and model cache reset afterwards."""
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_ENDPOINT", "IMAGE_ANNOTATOR_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    get_model_cache().clear()
    reload_registry()
    # An application in the same test process (LoRAIro's tests) may have named its own commands.
    set_download_command(None)
    set_extra_install_command(None)
    yield
    get_model_cache().clear()
    monkeypatch.undo()
    reload_registry()


@pytest.fixture
def tiny_wd(tmp_path: Path) -> TinyWD:
    """A WD-format tagger (dynamic batch, 32x32 input) with the default tag table."""
    return make_wd_tagger(tmp_path / "tiny-wd")
