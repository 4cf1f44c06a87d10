"""The details panel's tag counts over a large selection (`EditService.tag_counts`, Ctrl+A over 1M images) come
off the in-memory tag index and equal the counts of the chunked SQL path, edits included."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from lorairo.services import live_tag_index
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.edit_service import EditService
from lorairo.services.live_tag_index import LiveTagIndex
from lorairo.services.project_service import Project, ProjectService

from .test_edit_service import add_image

TAGS = {"cat": "general", "dog": "general", "solo": "general", "artist a": "artist", "rating q": "meta"}


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("selection-counts")
    names = list(TAGS)
    for i in range(16):
        add_image(project, f"img{i}.png", tags={t: TAGS[t] for k, t in enumerate(names) if (i >> k) & 1 or k == 4})
    yield project
    project.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chosen=st.sets(st.integers(1, 16), min_size=1), rejected=st.sets(st.integers(1, 16)))
def test_counts_off_the_index_equal_the_sql_path(
    project: Project, monkeypatch: pytest.MonkeyPatch, chosen: set[int], rejected: set[int]
) -> None:
    service = EditService(project)
    with project.db.session(write=True) as s:  # "cat" rejected on some images since the index was built
        s.execute(text("UPDATE tags SET is_rejected = 0"))
        for image_id in rejected:
            s.execute(
                text("UPDATE tags SET is_rejected = 1 WHERE tag = 'cat' AND image_id = :i"),
                {"i": image_id},
            )
    ids = sorted(chosen)
    in_sql = service.tag_counts(ids)  # under BUILD_FROM images: SQL
    index = LiveTagIndex.of(project.db)
    monkeypatch.setattr(live_tag_index, "BUILD_FROM", 1)
    monkeypatch.setattr(live_tag_index, "SQL_BELOW_RATIO", 0)
    builds = index.builds
    off_index = service.tag_counts(ids)
    assert index.snapshot is not None and index.builds >= builds
    assert off_index == in_sql
    assert all(t.count > 0 for t in off_index)
