"""Near-duplicate review dialog (pytest-qt, offscreen): a group side by side, keep one, exclude the others, undo."""

from __future__ import annotations

import os
from collections.abc import Iterator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from sqlalchemy import select

from lorairo.database.schema import ImageRecord, NearDuplicateRecord
from lorairo.gui.dialogs.near_duplicates import NearDuplicateDialog
from lorairo.gui.workers import JobManager
from lorairo.services.changes import Changes
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.project_service import Project, ProjectService

from .test_details_panel import add_image

pytestmark = pytest.mark.gui


def link(project: Project, a: int, b: int, distance: int) -> None:
    with project.db.session(write=True) as s:
        s.add(NearDuplicateRecord(image_id=a, match_image_id=b, distance=distance))


def excluded(project: Project) -> dict[int, bool]:
    with project.db.session() as s:
        return {row.id: row.excluded for row in s.execute(select(ImageRecord.id, ImageRecord.excluded))}


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("dups")
    yield project
    project.close()


@pytest.fixture
def jobs() -> Iterator[JobManager]:
    manager = JobManager()
    yield manager
    manager.shutdown()


def test_review_keeps_one_excludes_others_and_undo_restores(qtbot, project: Project, jobs: JobManager):  # type: ignore[no-untyped-def]
    small = add_image(project, "small.jpg", size=(64, 48))
    large = add_image(project, "large.jpg", size=(128, 96), thumbnail=False)  # falls back to the original
    mid = add_image(project, "mid.jpg", size=(96, 72))
    other_a = add_image(project, "x.jpg", size=(40, 40))
    other_b = add_image(project, "y.jpg", size=(40, 40), color=(0, 90, 0))
    link(project, large, small, 3)
    link(project, mid, small, 5)
    link(project, other_b, other_a, 1)

    dialog = NearDuplicateDialog(project, jobs=jobs)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.group_list.count() == 2 and len(dialog.cards) == 3)

    assert [card.member.image_id for card in dialog.cards] == [small, large, mid]
    assert dialog.keep_id() == large  # the biggest image is preselected
    qtbot.waitUntil(
        lambda: all(card.image.pixmap() is not None and not card.image.pixmap().isNull() for card in dialog.cards)
    )
    changed: list[Changes] = []
    dialog.changed.connect(changed.append)

    dialog.cards[2].keep.setChecked(True)  # the user prefers "mid"
    dialog.resolve_button.click()
    qtbot.waitUntil(lambda: dialog.group_list.count() == 1)

    assert excluded(project) == {small: True, large: True, mid: False, other_a: False, other_b: False}
    assert changed[0].image_ids == {small, large, mid} and changed[0].exclusion and changed[0].links
    assert [card.member.image_id for card in dialog.cards] == [other_a, other_b]

    dialog.undo_button.click()
    qtbot.waitUntil(lambda: dialog.group_list.count() == 2)
    assert not any(excluded(project).values())


def test_not_duplicates_and_reviewed_toggle(qtbot, project: Project, jobs: JobManager):  # type: ignore[no-untyped-def]
    a, b = add_image(project, "a.jpg", size=(50, 50)), add_image(project, "b.jpg", size=(60, 60))
    link(project, b, a, 7)
    dialog = NearDuplicateDialog(project, jobs=jobs)
    qtbot.addWidget(dialog)
    qtbot.waitUntil(lambda: len(dialog.cards) == 2)

    dialog.dismiss_button.click()
    qtbot.waitUntil(lambda: dialog.group_list.count() == 0)
    assert "No near-duplicates left" in dialog.header.text()
    assert not dialog.resolve_button.isEnabled()
    assert not any(excluded(project).values())

    dialog.show_reviewed.setChecked(True)
    qtbot.waitUntil(lambda: dialog.group_list.count() == 1 and len(dialog.cards) == 2)


def test_semantic_links_are_reviewed_beside_phash_groups(qtbot, project: Project, jobs: JobManager):  # type: ignore[no-untyped-def]
    a = add_image(project, "a.jpg", size=(64, 48))
    b = add_image(project, "b.jpg", size=(64, 48), color=(0, 90, 0))
    c = add_image(project, "c.jpg", size=(40, 40))
    d = add_image(project, "d.jpg", size=(40, 40), color=(0, 0, 90))
    link(project, b, a, 2)
    with project.db.session(write=True) as s:  # what `lorairo near-duplicates` writes: (1 - 0.985) x 1000
        s.add(NearDuplicateRecord(image_id=d, match_image_id=c, distance=15, kind="semantic"))

    dialog = NearDuplicateDialog(project, jobs=jobs)
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: dialog.group_list.count() == 2 and len(dialog.cards) == 2)
    texts = [dialog.group_list.item(i).text() for i in range(2)]
    assert texts == ["1. 2 images, distance ≤ 2", "2. 2 images, alike by embedding"]
    dialog.group_list.setCurrentRow(1)
    qtbot.waitUntil(lambda: {card.member.image_id for card in dialog.cards} == {c, d})
    facts = " ".join(card.facts.text() for card in dialog.cards)
    assert "embedding cosine 0.985" in facts and "pHash" not in facts
