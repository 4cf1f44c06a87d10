"""The grid's reads: the first page, the whole ordered ID array and the count agree with each other and with
the plain ordered query, for every grid order and for filtered and unfiltered views."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_query_service import ImageFilter, ImageQueryService
from lorairo.services.project_service import Project, ProjectService
from lorairo.services.tag_stats_service import SORTS, sorted_ids

from .test_edit_service import add_image


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("pages")
    yield project
    project.close()


def test_first_page_is_the_head_of_the_ordered_id_array_for_every_sort(project: Project) -> None:
    names = ["d.png", "b.png", "e.png", "a.png", "c.png", "f.png", "g.png"]
    ids = [
        add_image(
            project, name, tags={f"t{k}": "general" for k in range(n % 4)} | ({"cat": "general"} if n % 2 else {})
        )
        for n, name in enumerate(names)
    ]
    query = ImageQueryService(project.db)
    cats = ImageFilter(tags_all=("cat",))
    for sort in SORTS:
        for image_filter in (ImageFilter(), cats):
            whole = query.ids_array(image_filter, sort)
            assert isinstance(whole, np.ndarray) and whole.dtype == np.int64 and whole.ndim == 1
            assert whole.tolist() == sorted_ids(project.db, image_filter, sort)
            assert query.first_page(image_filter, sort, limit=3) == whole.tolist()[:3]
            assert query.first_page(image_filter, sort, limit=100) == whole.tolist()
            assert query.count(image_filter) == len(whole)
    assert query.ids_array().tolist() == ids == query.query_ids()
    assert query.first_page(cats, "name", limit=2) == [ids[3], ids[1]]  # a.png, b.png (cats: odd positions)
    with pytest.raises(ValueError, match="unknown sort"):
        query.first_page(None, "colour")
