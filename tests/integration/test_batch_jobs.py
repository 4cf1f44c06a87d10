"""Batch API jobs from a project: submit, status, import through the real OpenAI SDK and a loopback server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from image_annotator_lib.testing.fake_providers import FakeProviderServer, start_openai_server
from image_annotator_lib.testing.fake_replies import Fault
from PIL import Image
from sqlalchemy import select, text

from lorairo.database.schema import AnnotationFailure, ImageRecord
from lorairo.main import main
from lorairo.services.annotation_service import AnnotationService
from lorairo.services.batch_annotation_service import BatchAnnotationService
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.project_service import Project, ProjectService
from tests.support.models import register_batch_cloud_model

KEY = "sk-test-batch-0123456789abcdef"


@pytest.fixture
def server() -> Iterator[FakeProviderServer]:
    srv = start_openai_server()
    yield srv
    srv.stop()


@pytest.fixture
def project(tmp_path: Path, server: FakeProviderServer) -> Iterator[tuple[ConfigurationService, Project]]:
    src = tmp_path / "src"
    src.mkdir()
    for i, name in enumerate(("a.png", "b.png", "refuse_me.png")):
        image = Image.new("RGB", (80, 60), (20 + 90 * i, 200 - 60 * i, 40))
        image.paste((255, 255, 255), (0, 0, 10 * (i + 1), 10))
        image.save(src / name)
    register_batch_cloud_model(server.openai_base_url)
    config = ConfigurationService()
    config.update_setting("api", "openai_key", KEY)
    config.update_setting("directories", "batch_results_dir", str(tmp_path / "batch_results"))
    proj = ProjectService(config).create("batches")
    ImageProcessingService(config, proj).import_paths([src], jobs=1)
    yield config, proj
    proj.close()


def test_submit_status_import_lands_results_and_refusals(
    project: tuple[ConfigurationService, Project], server: FakeProviderServer, tmp_path: Path
) -> None:
    config, proj = project
    server.fault_when("refuse_me.png", Fault("refusal"))
    with proj.db.session() as s:
        ids = {name: i for i, name in s.execute(select(ImageRecord.id, ImageRecord.file_name))}
    service = BatchAnnotationService(AnnotationService(config, proj))
    job = service.submit(sorted(ids.values()), "loopback-gpt")
    assert job.n_requests == 3 and job.status == "in_progress"
    assert [j.remote_id for j in service.jobs()] == [job.remote_id]

    assert service.refresh(job.id).status == "in_progress"  # a batch takes a while
    assert service.refresh(job.id).status == "completed"
    summary = service.import_results(job.id)
    assert (summary.images, summary.annotated, summary.failed, summary.unmatched_keys) == (3, 2, 1, 0)
    # What the import changed, for the GUI's one broadcast (a Batch import used to refresh nothing).
    changes = summary.changes
    assert changes.image_ids == frozenset(ids.values())
    assert changes.tags and changes.captions and changes.scores and changes.ratings and changes.annotations
    with proj.db.session() as s:
        assert s.scalar(text("SELECT count(*) FROM captions")) == 2
        [failure] = s.scalars(select(AnnotationFailure)).all()
        assert failure.image_id == ids["refuse_me.png"] and failure.is_policy_violation
    # The result files were saved where the user said, and can be imported again offline.
    results = sorted((tmp_path / "batch_results").glob("*.jsonl"))
    assert results
    again = service.import_results_file(results[0])
    assert again.unmatched_keys == 0 and again.images >= 2
    assert service.jobs()[0].imported_at is not None


def test_cli_batch_submit_status_import(
    project: tuple[ConfigurationService, Project], capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    _, proj = project
    assert main(["batch", "submit", "--project", proj.name, "--model", "loopback-gpt", "--json"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert job["n_requests"] == 3
    assert main(["batch", "status", "--project", proj.name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "in_progress"
    assert main(["batch", "status", "--project", proj.name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["status"] == "completed"
    assert main(["batch", "import", "--project", proj.name, "--job", job["remote_id"], "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["annotated"] == 3
