"""Execution providers: a GPU build without CUDA falls back to CPU quietly and says so in the result."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from image_annotator_lib.testing.tiny_models import make_wd_tagger

SCRIPT = """
import json, sys
import image_annotator_lib as lib
from image_annotator_lib.testing.tiny_models import TinyWD
from image_annotator_lib.core.types import ModelKind, ModelSource, ModelSpec
from PIL import Image
folder = sys.argv[1]
lib.register_model(ModelSpec("wd", ModelKind.TAGGER, "wd-onnx", ModelSource(local_dir=folder,
    files=("model.onnx", "selected_tags.csv")), device=sys.argv[2]))
result = lib.annotate([Image.new("RGB", (8, 8))], ["wd"], ["k"])["k"]["wd"]
import onnxruntime as ort
status = {s.name: s for s in lib.list_available_models()}["wd"]
print(json.dumps({"ok": result.ok, "device": result.device, "raw": result.raw, "listed": ort.get_available_providers(),
                  "status_device": status.device}))
"""


def _run(folder: Path, device: str) -> tuple[dict, str]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(folder), device], capture_output=True, text=True, timeout=120, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def test_provider_actually_used_is_reported_and_fallback_is_quiet(tmp_path: Path) -> None:
    tiny = make_wd_tagger(tmp_path / "wd")
    report, stderr = _run(tiny.folder, "auto")
    assert report["ok"]
    assert "[E:onnxruntime" not in stderr and "Failed to load library" not in stderr
    assert "Failed to create CUDAExecutionProvider" not in stderr
    if report["device"] == "CPUExecutionProvider":
        assert report["status_device"] == "cpu"
        if "CUDAExecutionProvider" in report["listed"]:  # GPU build without a working CUDA: said, not shouted
            assert "no working GPU provider" in report["raw"]["device_fallback"]
    else:
        assert report["device"] == "CUDAExecutionProvider" and report["status_device"] == "cuda"


def test_device_cpu_never_asks_for_an_accelerator(tmp_path: Path) -> None:
    tiny = make_wd_tagger(tmp_path / "wd")
    report, stderr = _run(tiny.folder, "cpu")
    assert report["ok"] and report["device"] == "CPUExecutionProvider" and report["raw"] is None
    assert report["status_device"] == "cpu" and "onnxruntime" not in stderr
