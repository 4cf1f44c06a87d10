"""Exports of large selections read their images a chunk at a time and preview from an even sample (issue 20).

A filter that selects 500k images used to load them all, with every tag row, as ORM objects before the preview
or the export began. The selection now holds its ids; these tests pin that reading it in chunks gives exactly
the eager answer, and that a preview past `PREVIEW_SAMPLE` images says it is an estimate and scales its counts.
Timings and memory at 500k are in bench/export_scale.py / docs/benchmarks.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lorairo.exceptions import ExportError
from lorairo.services import export_service as export_module
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export import data
from lorairo.services.export.data import SelectionItems, load_items, load_selection
from lorairo.services.export_service import ExportService
from lorairo.services.project_service import Project, ProjectService
from tests.support.export_data import ImageSpec, add_images, simple_tags


@pytest.fixture
def project() -> Iterator[Project]:
    opened = ProjectService(ConfigurationService()).create("export-scale")
    yield opened
    opened.close()


def _specs(count: int) -> list[ImageSpec]:
    return [
        ImageSpec(
            f"img{i:03d}.png",
            (96, 64) if i % 2 else (64, 96),
            tags=simple_tags("smile", f"tag{i % 3}"),
            caption=f"photo {i}" if i % 4 == 0 else None,
            rating="general" if i % 5 == 0 else None,
            excluded=i % 7 == 6,
        )
        for i in range(count)
    ]


def test_chunked_reading_gives_exactly_the_items_of_one_read(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = add_images(project, _specs(23))
    with project.db.session() as session:
        eager = load_items(session, project.root, sorted(ids))
    monkeypatch.setattr(data, "CHUNK", 4)  # 23 images over six chunks
    selection = load_selection(project.db, project.root, None)
    assert isinstance(selection.items, SelectionItems)
    kept = [item for item in eager if item.image_id not in {ids[6], ids[13], ids[20]}]
    assert selection.excluded_count == 3 and len(selection.items) == 20
    assert list(selection.items) == kept
    assert [selection.items[k] for k in (0, 5, 19, -1)] == [kept[0], kept[5], kept[19], kept[-1]]
    assert selection.items[3:9] == kept[3:9]
    with pytest.raises(IndexError):
        selection.items[20]
    chosen = load_selection(project.db, project.root, [ids[2], ids[6], ids[1]])
    assert [i.image_id for i in chosen.items] == [ids[1], ids[2]] and chosen.excluded_count == 1


def test_unknown_ids_are_named_among_many(project: Project) -> None:
    ids = add_images(project, _specs(5))
    with pytest.raises(ExportError, match=r"no image with id 9001, 9002 in this project"):
        load_selection(project.db, project.root, [*ids, 9002, 9001])


def test_a_preview_past_the_sample_size_is_an_estimate_scaled_to_the_selection(
    project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = add_images(project, _specs(40))  # 5 excluded (i % 7 == 6), 35 to export
    service = ExportService(ConfigurationService(), project)
    opts = service.default_options(tmp_path / "o", trigger_words=(), resolution=None)
    exact = service.preview(opts)
    assert exact.sampled == 0 and exact.image_count == 35 and exact.tag_frequency[0] == ("smile", 35)

    monkeypatch.setattr(export_module, "PREVIEW_SAMPLE", 7)
    service.invalidate()
    last = ids[-1]  # not among the 7 spread images: its caption is still composed for the dialog
    estimate = service.preview(opts, image_id=last)
    assert estimate.sampled == 7
    assert estimate.image_count == 35 and estimate.excluded == 5 and estimate.skipped_empty == 0
    assert estimate.tag_frequency[0] == ("smile", 35)  # on every image: 7 of 7, scaled by 35 / 7
    assert estimate.tag_occurrences == 70  # two tags per image
    assert estimate.preview_image_id == last and estimate.caption_lines == ("smile, tag0",)
