"""Annotation end to end on a real project: real import, generated tiny tagger, the real open-nsfw model,
and an OpenAI-compatible loopback server driven through the real SDK."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import image_annotator_lib
import pytest
from image_annotator_lib.testing.fake_providers import FakeProviderServer, start_openai_server
from image_annotator_lib.testing.fake_replies import Fault
from PIL import Image
from sqlalchemy import select, text

from lorairo.cli.query_cmd import _tags as query_tags_text
from lorairo.database.schema import (
    AnnotationFailure,
    AnnotationRecord,
    ImageRecord,
    QualityScoreRecord,
    RatingRecord,
    TagRecord,
)
from lorairo.main import main
from lorairo.services.annotation_service import AnnotationService
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.edit_service import EditService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.image_query_service import ImageQueryService
from lorairo.services.project_service import Project, ProjectService
from tests.support.models import register_loopback_cloud_model, register_tiny_tagger

COLOURS = {
    "white.png": (255, 255, 255),
    "red.png": (230, 20, 20),
    "blue.png": (20, 30, 220),
    "refuse_me.png": (90, 160, 60),
}


@pytest.fixture
def project(tmp_path: Path) -> Iterator[tuple[ConfigurationService, Project]]:
    src = tmp_path / "src"
    src.mkdir()
    for name, colour in COLOURS.items():
        image = Image.new("RGB", (96, 64), colour)
        # A little structure so the images differ beyond their colour.
        image.paste((0, 0, 0), (0, 0, 8 + len(name), 8))
        image.save(src / name)
    config = ConfigurationService()
    proj = ProjectService(config).create("annotate-me")
    ImageProcessingService(config, proj).import_paths([src], jobs=1)
    yield config, proj
    proj.close()


def image_ids(proj: Project) -> dict[str, int]:
    with proj.db.session() as s:
        return {name: image_id for image_id, name in s.execute(select(ImageRecord.id, ImageRecord.file_name))}


def test_tagger_and_open_nsfw_results_land_with_provenance(
    project: tuple[ConfigurationService, Project], tmp_path: Path
) -> None:
    config, proj = project
    register_tiny_tagger(tmp_path / "tiny")
    ids = image_ids(proj)
    service = AnnotationService(config, proj)
    summary = service.run(list(ids.values()), ["tiny-wd", "open-nsfw"])
    assert summary.annotated == {"tiny-wd": 4, "open-nsfw": 4}
    assert summary.failed == {}

    # The same images through the library alone give the same tags: the app stores exactly what the model said.
    with Image.open(proj.root / _file_path(proj, ids["white.png"])) as white:
        direct = image_annotator_lib.annotate([white], ["tiny-wd"], ["k"])["k"]["tiny-wd"]
    expected = {t.name.replace("_", " "): t.confidence for t in direct.tags if t.category != "rating"}
    assert expected, "the tiny tagger should select some tags for a white image"
    with proj.db.session() as s:
        rows = s.execute(
            select(TagRecord.tag, TagRecord.confidence, TagRecord.source, TagRecord.category).where(
                TagRecord.image_id == ids["white.png"]
            )
        ).all()
        assert {r.tag: pytest.approx(r.confidence) for r in rows} == expected
        assert {r.source for r in rows} == {"model"}
        runs = s.scalars(select(AnnotationRecord).where(AnnotationRecord.image_id == ids["white.png"])).all()
        assert {(r.model, r.framework, r.device) for r in runs} == {
            ("tiny-wd", "onnxruntime", "CPUExecutionProvider"),
            ("open-nsfw", "onnxruntime", "CPUExecutionProvider"),
        }
        raw = json.loads(next(r for r in runs if r.model == "tiny-wd").raw_json)
        assert len(raw["candidates"]) >= len(expected)  # probabilities kept for re-thresholding
        nsfw = s.execute(
            select(QualityScoreRecord.value, QualityScoreRecord.scale_max).where(
                QualityScoreRecord.score_name == "nsfw"
            )
        ).all()
        assert len(nsfw) == 4 and all(0.0 <= v <= 1.0 and top == 1.0 for v, top in nsfw)
        labels = s.scalars(select(RatingRecord.label).where(RatingRecord.image_id == ids["white.png"])).all()
        assert set(labels) <= {"general", "sensitive", "questionable", "explicit", "sfw", "nsfw"} and len(labels) == 2


def _file_path(proj: Project, image_id: int) -> str:
    with proj.db.session() as s:
        return s.scalar(select(ImageRecord.file_path).where(ImageRecord.id == image_id))


def test_failing_model_records_failures_and_keeps_other_results(
    project: tuple[ConfigurationService, Project], tmp_path: Path
) -> None:
    config, proj = project
    register_tiny_tagger(tmp_path / "broken", name="broken-wd", write_csv=False)
    service = AnnotationService(config, proj)
    summary = service.run(list(image_ids(proj).values()), ["broken-wd", "open-nsfw"])
    assert summary.annotated == {"open-nsfw": 4}
    assert summary.failed == {"broken-wd": 4}
    with proj.db.session() as s:
        failures = s.scalars(select(AnnotationFailure)).all()
        assert len(failures) == 4
        assert {f.failure_reason for f in failures} == {"missing_files"}
        assert all("selected_tags.csv" in (f.error_message or "") for f in failures)
        assert not any(f.is_policy_violation for f in failures)
        assert s.scalar(text("SELECT count(*) FROM quality_scores WHERE score_name = 'nsfw'")) == 4


def test_cancelled_run_resumes_with_only_what_is_left(project: tuple[ConfigurationService, Project]) -> None:
    config, proj = project
    config.update_setting("annotation", "batch_size", 1)
    ids = sorted(image_ids(proj).values())
    service = AnnotationService(config, proj)
    cancel = threading.Event()
    first = service.run(ids, ["open-nsfw"], cancel=cancel, on_batch=lambda done: cancel.set())
    assert first.cancelled and first.annotated == {"open-nsfw": 1}
    second = service.run(ids, ["open-nsfw"])
    assert second.skipped_done == {"open-nsfw": 1}
    assert second.annotated == {"open-nsfw": 3}
    with proj.db.session() as s:
        per_image = s.execute(text("SELECT image_id, count(*) FROM annotations GROUP BY image_id")).all()
    assert sorted(i for i, _ in per_image) == ids and all(n == 1 for _, n in per_image)


def test_rethreshold_changes_tags_without_running_the_model(
    project: tuple[ConfigurationService, Project], tmp_path: Path
) -> None:
    config, proj = project
    register_tiny_tagger(tmp_path / "tiny")
    service = AnnotationService(config, proj)
    service.run(list(image_ids(proj).values()), ["tiny-wd"])
    with proj.db.session() as s:
        before = s.scalar(text("SELECT count(*) FROM tags"))
        runs = s.scalar(text("SELECT count(*) FROM annotations"))
    changed = service.rethreshold("tiny-wd", general=0.1, character=0.1)
    with proj.db.session() as s:
        after = s.scalar(text("SELECT count(*) FROM tags"))
        assert s.scalar(text("SELECT count(*) FROM annotations")) == runs  # nothing ran
        assert s.scalar(text("SELECT min(confidence) FROM tags")) >= 0.1
    assert after > before and changed > 0
    service.rethreshold("tiny-wd")  # back to the configured thresholds
    with proj.db.session() as s:
        assert s.scalar(text("SELECT count(*) FROM tags")) == before


def test_manual_edits_survive_re_annotation(project: tuple[ConfigurationService, Project], tmp_path: Path) -> None:
    config, proj = project
    register_tiny_tagger(tmp_path / "tiny")
    white = image_ids(proj)["white.png"]
    service = AnnotationService(config, proj)
    service.run([white], ["tiny-wd"])
    with proj.db.session() as s:
        model_tag = s.scalars(select(TagRecord.tag).where(TagRecord.image_id == white)).first()
    edits = EditService(proj)
    edits.add_tags([white], ["my own tag"])
    edits.remove_tags([white], [model_tag])
    service.run([white], ["tiny-wd"], rerun=True)
    with proj.db.session() as s:
        rows = s.execute(
            select(TagRecord.tag, TagRecord.source, TagRecord.is_rejected).where(TagRecord.image_id == white)
        ).all()
    assert ("my own tag", "manual", False) in rows
    assert (model_tag, "model", True) in rows  # the model said it again; it stays rejected
    assert (model_tag, "model", False) not in rows


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    srv = start_openai_server()
    yield srv
    srv.stop()


def test_cloud_refusal_lands_in_failures_and_warns_next_time(
    project: tuple[ConfigurationService, Project], server: FakeProviderServer
) -> None:
    config, proj = project
    register_loopback_cloud_model(server.openai_base_url)
    server.fault_when("refuse_me.png", Fault("refusal"))
    ids = image_ids(proj)
    service = AnnotationService(config, proj)
    summary = service.run(list(ids.values()), ["loopback-vlm"])
    assert summary.annotated == {"loopback-vlm": 3}
    assert summary.policy_violations == {"loopback-vlm": 1}
    with proj.db.session() as s:
        [failure] = s.scalars(select(AnnotationFailure)).all()
        assert failure.image_id == ids["refuse_me.png"] and failure.is_policy_violation
        assert failure.failure_reason == "policy_violation"
        # The other images got tags and a caption from the one structured request.
        caption = s.scalar(text("SELECT text FROM captions WHERE image_id = :i"), {"i": ids["white.png"]})
        assert caption and "twin tails" in caption
        assert s.scalar(text("SELECT count(*) FROM tags WHERE image_id = :i"), {"i": ids["white.png"]}) >= 2

    # Next run: the refused image is flagged before anything is sent, and skipped unless asked.
    assert service.check_policy_violations(list(ids.values()), "loopback-vlm") == [ids["refuse_me.png"]]
    requests_before = server.count()
    again = service.run(list(ids.values()), ["loopback-vlm"], rerun=True)
    assert again.skipped_policy == {"loopback-vlm": 1}
    assert server.count() - requests_before == 3
    resent = service.run([ids["refuse_me.png"]], ["loopback-vlm"], rerun=True, resend_policy_violations=True)
    assert resent.policy_violations == {"loopback-vlm": 1}


def test_cli_annotate_then_query_shows_tags_and_nsfw(
    project: tuple[ConfigurationService, Project], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, proj = project
    register_tiny_tagger(tmp_path / "tiny")
    assert main(["annotate", "--project", proj.name, "--models", "tiny-wd,open-nsfw", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["annotated"] == {"tiny-wd": 4, "open-nsfw": 4}
    assert main(["query", "--project", proj.name, "--filter", "", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    white = next(i for i in listing["images"] if i["file_name"] == "white.png")
    assert white["tags"] and "nsfw" in white["scores"]
    assert set(white["tag_confidences"]) == set(white["tags"])  # every tag here came from the tagger
    assert all(0.35 <= c <= 1.0 for c in white["tag_confidences"].values())
    # The table shows each tag with its confidence, and manual tags bare.
    EditService(proj).add_tags([white["id"]], ["my own tag"])
    [row] = ImageQueryService(proj.db).fetch_rows([white["id"]])
    shown = query_tags_text(row)
    assert "my own tag" in shown and "my own tag 0" not in shown
    for tag, confidence in white["tag_confidences"].items():
        assert f"{tag} {confidence:.2f}" in shown
    # Annotating again does nothing: every image is done.
    assert main(["annotate", "--project", proj.name, "--models", "open-nsfw", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped_done"] == {"open-nsfw": 4}
