"""Choosing the annotation engine: without the optional Ray extra the ray engine says which extra to install."""

from __future__ import annotations

import pytest

from lorairo.main import main
from lorairo.services import annotation_engines


def test_ray_engine_without_the_extra_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(annotation_engines.importlib.util, "find_spec", lambda name: None)
    assert annotation_engines.engine_needs("ray") == "needs extra: ray"
    code = main(["annotate", "--project", "nope", "--models", "open-nsfw", "--engine", "ray"])
    assert code == 1
    err = capsys.readouterr().err
    assert "uv sync --extra ray" in err and len(err.strip().splitlines()) == 1


def test_unknown_engine_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["annotate", "--project", "nope", "--models", "open-nsfw", "--engine", "spark"])
    assert code != 0
    assert "--engine must be one of local, ray" in capsys.readouterr().err


def test_local_engine_needs_nothing() -> None:
    assert annotation_engines.engine_needs("local") is None


def test_checking_for_the_extra_does_not_import_ray() -> None:
    """Ray reads settings such as RAY_ENABLE_UV_RUN_RUNTIME_ENV once, at import: the engine sets them before its
    own import, so asking whether the extra is there (the CLI and the panel do, first) must not import Ray."""
    import subprocess
    import sys

    code = (
        "import sys\nfrom lorairo.services.annotation_engines import ray_installed\n"
        "ray_installed()\nprint('ray' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "False"
