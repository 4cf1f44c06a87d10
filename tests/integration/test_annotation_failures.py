"""Failures are visible and exit codes honest: what a user sees when annotation goes wrong, the truth of
`models list`, unknown --ids, oversized provider answers, and what each stored batch reports as changed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from image_annotator_lib.testing.fake_providers import FakeProviderServer, start_openai_server
from image_annotator_lib.testing.fake_replies import Fault
from image_annotator_lib.testing.tiny_models import make_aesthetic_model, write_tags_csv
from PIL import Image
from sqlalchemy import select, text

from lorairo.database.schema import AnnotationFailure, ImageRecord
from lorairo.main import main
from lorairo.services.annotation_service import AnnotationService
from lorairo.services.changes import Changes
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.project_service import Project, ProjectService
from tests.support.models import config_dir, register_loopback_cloud_model, register_tiny_tagger

NAMES = ("red.png", "green.png", "blue.png")


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[ConfigurationService, Project]]:
    src = tmp_path / "src"
    src.mkdir()
    for i, name in enumerate(NAMES):
        image = Image.new("RGB", (80, 64), (200 * (i == 0), 200 * (i == 1), 200 * (i == 2)))
        image.paste((255, 255, 255), (0, 0, 8 + 6 * i, 8))
        image.save(src / name)
    config = ConfigurationService()
    proj = ProjectService(config).create("fails")
    ImageProcessingService(config, proj).import_paths([src], jobs=1)
    yield config, proj
    proj.close()


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    srv = start_openai_server()
    yield srv
    srv.stop()


def _ids(proj: Project) -> list[int]:
    with proj.db.session() as s:
        return sorted(s.scalars(select(ImageRecord.id)))


def _register_empty_local_model(folder: Path, name: str = "my-wd") -> None:
    """A user's entry that names only a folder (as the bundled config's comment suggests)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (config_dir() / "annotator_config.toml").open("a", encoding="utf-8") as fh:
        fh.write(f'[models."{name}"]\nkind = "tagger"\nframework = "wd-onnx"\nlocal_dir = "{folder.as_posix()}"\n\n')


# --- a model that fails on every image ---------------------------------------------------------------------


def test_model_failing_on_every_image_exits_nonzero_and_prints_the_reason(
    project: tuple[ConfigurationService, Project], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, proj = project
    _register_empty_local_model(tmp_path / "empty-model")
    code = main(["annotate", "--project", proj.name, "--models", "my-wd"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "missing_files (3)" in err
    # The first message says which file is missing and where it was looked for.
    assert "model.onnx is missing in" in err and "empty-model" in err
    assert "lorairo.log" in err  # where the details are
    assert "my-wd" in out  # the table still shows the model's counts


def test_onnx_model_with_the_wrong_input_shape_exits_nonzero_naming_the_shape(
    project: tuple[ConfigurationService, Project], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A CLIP tower ([N, 3, 224, 224]) dropped into a WD tagger's folder: loads, but is not a WD model."""
    _, proj = project
    folder = tmp_path / "not-wd"
    tower = make_aesthetic_model(folder)
    (folder / tower.tower_file).rename(folder / "model.onnx")
    write_tags_csv(folder / "selected_tags.csv", [("1girl", 0), ("solo", 0)])
    _register_empty_local_model(folder, name="wrong-shape")
    assert main(["annotate", "--project", proj.name, "--models", "wrong-shape,open-nsfw"]) == 1
    out, err = capsys.readouterr()
    assert "load_failed (3)" in err and "input shape" in err and "is not [N, H, W, 3]" in err
    assert "open-nsfw" in out  # the other model's results are kept
    with proj.db.session() as s:
        assert s.scalar(text("SELECT count(*) FROM annotations WHERE model = 'open-nsfw'")) == 3


def test_json_output_carries_reasons_and_messages_and_the_log_has_them(
    project: tuple[ConfigurationService, Project], server: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config, proj = project
    register_loopback_cloud_model(server.openai_base_url)
    server.fault_when("", Fault("garbage"))  # every request: HTTP 200 with a body that is not JSON
    code = main(["annotate", "--project", proj.name, "--models", "loopback-vlm", "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 1
    assert result["failed"] == {"loopback-vlm": 3}
    assert result["failure_reasons"] == {"malformed_response": 3}
    [message] = result["failure_messages"]["malformed_response"]  # three identical messages shown once
    assert message.startswith("loopback-vlm: ") and "not JSON" in message
    assert server.count("openai") == 3  # junk is not retried
    log = config.log_file_path().read_text(encoding="utf-8")
    assert "malformed_response" in log and "not JSON" in log


def test_refusals_fail_the_run_but_deliberate_skips_do_not(
    project: tuple[ConfigurationService, Project], server: FakeProviderServer, capsys: pytest.CaptureFixture[str]
) -> None:
    _, proj = project
    register_loopback_cloud_model(server.openai_base_url)
    server.fault_when("red.png", Fault("refusal"))
    assert main(["annotate", "--project", proj.name, "--models", "loopback-vlm"]) == 1
    err = capsys.readouterr().err
    assert "policy_violation (1)" in err and "model refused" in err
    # Next run: two images done, the refused one skipped on purpose: nothing failed, exit 0.
    assert main(["annotate", "--project", proj.name, "--models", "loopback-vlm", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["skipped_done"] == {"loopback-vlm": 2} and result["skipped_policy"] == {"loopback-vlm": 1}


def test_unreachable_local_server_hint_asks_whether_it_runs(
    project: tuple[ConfigurationService, Project], capsys: pytest.CaptureFixture[str]
) -> None:
    _, proj = project
    register_loopback_cloud_model("http://127.0.0.1:9/v1", name="dead-ollama")  # nothing listens on port 9
    assert main(["annotate", "--project", proj.name, "--models", "dead-ollama"]) == 1
    err = capsys.readouterr().err
    assert "provider_error (3)" in err and "is the server at http://127.0.0.1:9/v1 running?" in err


def test_successful_run_exits_zero(
    project: tuple[ConfigurationService, Project], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, proj = project
    register_tiny_tagger(tmp_path / "tiny")
    assert main(["annotate", "--project", proj.name, "--models", "tiny-wd"]) == 0
    assert "error" not in capsys.readouterr().err


# --- --ids ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ids", "message"),
    [
        ("9999", "no image with ID 9999 in project 'fails'"),
        ("1,9999", "no image with ID 9999 in project 'fails'"),
        ("1,x", "'x' is not an image ID"),
    ],
)
def test_unknown_ids_are_an_error_like_exports(
    project: tuple[ConfigurationService, Project], capsys: pytest.CaptureFixture[str], ids: str, message: str
) -> None:
    _, proj = project
    assert main(["annotate", "--project", proj.name, "--ids", ids, "--models", "open-nsfw"]) == 1
    assert message in capsys.readouterr().err
    with proj.db.session() as s:
        assert s.scalar(text("SELECT count(*) FROM annotations")) == 0  # nothing ran


# --- models list tells the truth -------------------------------------------------------------------------------


def test_models_list_says_which_file_is_missing_and_names_lorairos_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    folder = tmp_path / "empty-model"
    _register_empty_local_model(folder)
    assert main(["models", "list", "--json"]) == 0
    listed = {m["name"]: m for m in json.loads(capsys.readouterr().out)}
    mine = listed["my-wd"]
    assert not mine["available"]  # was "ready" with an empty folder
    [need] = mine["needs"]
    assert "model.onnx" in need and "selected_tags.csv" in need and str(folder) in need
    hub = listed["wd-vit-tagger-v3"]
    assert any("lorairo models download wd-vit-tagger-v3" in n for n in hub["needs"])
    assert not any("image_annotator_lib" in n for n in hub["needs"])


# --- provider answer size limits ---------------------------------------------------------------------------------


def test_ten_megabyte_answer_is_one_malformed_failure(
    project: tuple[ConfigurationService, Project], server: FakeProviderServer
) -> None:
    config, proj = project
    register_loopback_cloud_model(server.openai_base_url)
    server.fault_when("red.png", Fault("huge", size=10 * 1024 * 1024))
    summary = AnnotationService(config, proj).run(_ids(proj), ["loopback-vlm"])
    assert summary.annotated == {"loopback-vlm": 2}
    assert summary.failure_reasons == {"malformed_response": 1}
    assert server.count("openai") == 3  # asked once, not retried
    with proj.db.session() as s:
        [failure] = s.scalars(select(AnnotationFailure)).all()  # stored once
        assert failure.failure_reason == "malformed_response" and "too large" in (failure.error_message or "")
        assert s.scalar(text("SELECT max(length(text)) FROM captions")) < 1000  # the huge caption is nowhere


def test_caption_limit_comes_from_the_settings(
    project: tuple[ConfigurationService, Project], server: FakeProviderServer
) -> None:
    config, proj = project
    register_loopback_cloud_model(server.openai_base_url)
    config.update_setting("ai_providers", "max_caption_chars", 100)
    server.fault_when("red.png", Fault("huge", size=150))
    summary = AnnotationService(config, proj).run(_ids(proj), ["loopback-vlm"])
    assert summary.failure_reasons == {"malformed_response": 1}
    assert "more than the limit of 100" in summary.failure_messages["malformed_response"][0]


# --- what each stored batch changed ----------------------------------------------------------------------------


def test_each_stored_batch_reports_changes_with_flags(
    project: tuple[ConfigurationService, Project], tmp_path: Path
) -> None:
    config, proj = project
    register_tiny_tagger(tmp_path / "tiny")
    _register_empty_local_model(tmp_path / "empty-model", name="broken")
    reported: list[Changes] = []
    service = AnnotationService(config, proj)
    service.run(_ids(proj), ["tiny-wd", "open-nsfw"], on_batch=reported.append)
    assert reported and all(isinstance(c, Changes) for c in reported)
    merged = reported[0]
    for changes in reported[1:]:
        merged = merged.merge(changes)
    assert merged.image_ids == frozenset(_ids(proj))
    assert merged.tags and merged.scores and merged.ratings and merged.annotations
    assert not merged.captions and not merged.added and not merged.removed
    # Only failures: no data changed, but annotation records (the failures) did.
    failures: list[Changes] = []
    service.run(_ids(proj), ["broken"], on_batch=failures.append)
    assert failures and all(c.annotations and not (c.tags or c.scores or c.ratings or c.captions) for c in failures)
    assert frozenset().union(*(c.image_ids for c in failures)) == frozenset(_ids(proj))


def test_models_list_table_shows_bracketed_text_verbatim(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Needs are shown as written: rich took "[captioners]" (and any bracketed path part) for markup and ate it."""
    from lorairo.cli.common import console

    monkeypatch.setattr(console, "width", 400)  # one line per row
    folder = tmp_path / "models[v2]"
    _register_empty_local_model(folder)
    assert main(["models", "list"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if " my-wd " in line)
    assert f"not found in {folder}" in row
