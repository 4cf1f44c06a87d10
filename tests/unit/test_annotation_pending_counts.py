"""`AnnotationService.pending_counts` (the Annotate panel's estimate over a selection, numpy over one id text per
model) answers what `plan` answers: for every model, how many of the chosen images it has not annotated yet."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from lorairo.database.schema import AnnotationRecord, ModelRecord
from lorairo.services.annotation_service import AnnotationService
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.project_service import Project, ProjectService

from .test_edit_service import add_image

MODELS = ("wd-test", "aesthetic-test")
IMAGES = 12


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("pending")
    for i in range(IMAGES):
        add_image(project, f"img{i}.png")
    yield project
    project.close()


def set_annotations(project: Project, done: dict[str, set[int]]) -> None:
    """Exactly the (model, image) pairs of `done` have annotation rows (some pairs twice: a re-run)."""
    with project.db.session(write=True) as s:
        s.query(AnnotationRecord).delete()
        for name, ids in done.items():
            model = s.scalar(select(ModelRecord).where(ModelRecord.name == name))
            if model is None:
                model = ModelRecord(name=name, provider="local", kind="tagger")
                s.add(model)
                s.flush()
            for image_id in ids:
                for _ in range(1 + image_id % 2):
                    s.add(AnnotationRecord(image_id=image_id, model_id=model.id, provider="local", model=name))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    chosen=st.sets(st.integers(1, IMAGES)),
    done_a=st.sets(st.integers(1, IMAGES)),
    done_b=st.sets(st.integers(1, IMAGES)),
    rerun=st.booleans(),
)
def test_pending_counts_equal_the_plan(
    project: Project, chosen: set[int], done_a: set[int], done_b: set[int], rerun: bool
) -> None:
    set_annotations(project, {MODELS[0]: done_a, MODELS[1]: done_b})
    service = AnnotationService(ConfigurationService(), project)
    ids = sorted(chosen)
    plan = service.plan(ids, MODELS, rerun=rerun)
    counts = service.pending_counts(np.array(ids, dtype=np.int64), MODELS, rerun=rerun)
    assert counts == {name: len(plan.pending[name]) for name in MODELS}
    assert sum(counts.values()) == plan.total_pairs
