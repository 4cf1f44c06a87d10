"""Tag chips as the user sees and uses them (pytest-qt, offscreen): colours, dashed manual border, counts over a
selection, the close mark, inline rename, keyboard use, and one layout pass per change (issue 20: 80 chips after
Ctrl+A over 1M images re-laid out every ancestor once per chip)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from PySide6.QtCore import QCoreApplication, QEvent, QPoint, Qt
from PySide6.QtGui import QColor, QHelpEvent, QImage
from PySide6.QtWidgets import QGroupBox, QScrollArea, QToolTip, QVBoxLayout, QWidget

from lorairo.gui.widgets.details.flow_layout import FlowLayout
from lorairo.gui.widgets.details.tag_chips import (
    CATEGORY_COLORS,
    CHIP_BATCH,
    MAX_IMAGE_CHIPS,
    MAX_SELECTION_CHIPS,
    TagChip,
    TagChipArea,
)
from lorairo.services.image_details import TagCount, TagInfo


def settle() -> None:
    """Let Qt lay out, paint and delete what it deferred (what the event loop does between user actions)."""
    app = QCoreApplication.instance()
    assert app is not None
    for _ in range(3):
        app.processEvents()
        QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)


@pytest.fixture
def area(qtbot) -> Iterator[TagChipArea]:  # type: ignore[no-untyped-def]
    """A chip area in a scroll area and a group box, as in the details panel, shown at a dock's width."""
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    column = QWidget()
    box = QGroupBox("Tags", column)
    chips = TagChipArea(box)
    QVBoxLayout(box).addWidget(chips)
    outer = QVBoxLayout(column)
    outer.addWidget(box)
    outer.addStretch(1)
    scroll.setWidget(column)
    qtbot.addWidget(scroll)
    scroll.resize(420, 700)
    scroll.show()
    settle()
    yield chips


def info(tag: str, category: str | None = "general", source: str = "model") -> TagInfo:
    return TagInfo(1, tag, category, source, "wd-vit-tagger-v3" if source == "model" else None, 0.9)


def image_of(widget: QWidget) -> QImage:
    return widget.grab().toImage()


def close_to(pixel: QColor, colour: QColor, tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel.getRgb()[:3], colour.getRgb()[:3], strict=True))


def top_edge(chip: TagChip) -> list[QColor]:
    """The chip's top border, pixel by pixel, left of the close mark and clear of the rounded corners."""
    image = image_of(chip)
    return [image.pixelColor(x, 0) for x in range(chip.RADIUS + 2, chip.close_rect().left() - 2)]


def test_selection_chips_show_the_most_common_tags_with_counts(area: TagChipArea) -> None:
    counts = [TagCount(f"tag {i:03d}", "general", 1000 - i) for i in range(MAX_SELECTION_CHIPS + 5)]
    area.set_counts(counts, 1000)
    settle()
    assert area.tags() == [f"tag {i:03d}" for i in range(MAX_SELECTION_CHIPS)]
    first, second = area.chips[0], area.chips[1]
    assert first.text == "tag 000" and second.text == "tag 001  999/1000"  # on every image: no count
    assert "on 999 of 1000 selected images" in second.toolTip()
    assert second.close_tooltip == "Remove 'tag 001' from all selected images"
    assert area._more.isVisible() and "5 more tags" in area._more.text()
    assert all(chip.isVisible() and not chip.geometry().isEmpty() for chip in area.chips)
    # every chip inside the area, none overlapping the next: the flow layout placed them all
    assert all(area.rect().contains(chip.geometry()) for chip in area.chips)
    assert not any(a.geometry().intersects(b.geometry()) for a, b in itertools.pairwise(area.chips))


def test_a_newer_selection_replaces_the_chips_of_an_older_one(area: TagChipArea) -> None:
    area.set_counts([TagCount("old", "general", 3), TagCount("older", "meta", 1)], 3)
    old_chips = list(area.chips)
    area.set_counts([TagCount("new", "character", 5)], 5)  # before the event loop ran for the first one
    assert all(chip.isHidden() for chip in old_chips)  # gone from the screen at once, deleted later
    settle()
    assert area.tags() == ["new"]
    assert [c.tag for c in area.findChildren(TagChip)] == ["new"]  # the old widgets were deleted
    area.set_counts([], 0)
    settle()
    assert area.chips == [] and area._empty.isVisible()


def test_chips_take_their_category_colour_and_manual_tags_a_dashed_border(area: TagChipArea) -> None:
    area.set_tags([info("hatsune miku", "character"), info("long hair", "general", source="manual")])
    settle()
    miku, hair = area.chip("hatsune miku"), area.chip("long hair")
    assert miku is not None and hair is not None
    assert not miku.manual and hair.manual
    character, general = QColor(CATEGORY_COLORS["character"]), QColor(CATEGORY_COLORS["general"])
    solid = top_edge(miku)
    assert all(close_to(pixel, character) for pixel in solid)  # an unbroken border in the category colour
    dashed = top_edge(hair)
    on = [close_to(pixel, general) for pixel in dashed]
    assert any(on) and not all(on)  # dashes and gaps
    # the fill is a tint of the category colour: closer to it than the window behind the chip is
    inside = image_of(miku).pixelColor(miku.RADIUS + 2, miku.height() // 2)
    behind = miku.palette().color(miku.backgroundRole())
    assert abs(inside.greenF() - inside.redF()) > abs(behind.greenF() - behind.redF())


def test_unknown_category_is_grey_and_the_tooltip_tells_the_provenance(area: TagChipArea) -> None:
    area.set_tags([info("mystery", None, source="model")])
    settle()
    chip = area.chip("mystery")
    assert chip is not None
    assert all(close_to(pixel, QColor("#8a8a8a")) for pixel in top_edge(chip))
    assert "Category: unknown" in chip.toolTip() and "Model: wd-vit-tagger-v3" in chip.toolTip()
    assert "Confidence: 0.90" in chip.toolTip() and "Drag to reorder" in chip.toolTip()


def test_the_close_mark_removes_with_its_own_tooltip(qtbot, area: TagChipArea) -> None:  # type: ignore[no-untyped-def]
    area.set_tags([info("smile"), info("sky")])
    settle()
    removed: list[str] = []
    area.remove_requested.connect(removed.append)
    smile = area.chip("smile")
    assert smile is not None
    qtbot.mouseClick(smile, Qt.MouseButton.LeftButton, pos=QPoint(12, smile.height() // 2))  # on the text
    assert removed == []
    # pressed on the mark and released off it: cancelled, as a button does
    qtbot.mousePress(smile, Qt.MouseButton.LeftButton, pos=smile.close_rect().center())
    qtbot.mouseRelease(smile, Qt.MouseButton.LeftButton, pos=QPoint(12, smile.height() // 2))
    assert removed == []
    qtbot.mouseClick(smile, Qt.MouseButton.LeftButton, pos=smile.close_rect().center())
    assert removed == ["smile"]
    centre = smile.close_rect().center()
    smile.event(QHelpEvent(QEvent.Type.ToolTip, centre, smile.mapToGlobal(centre)))
    assert QToolTip.text() == "Remove 'smile'"


def test_double_click_renames_inline_and_escape_cancels(qtbot, area: TagChipArea) -> None:  # type: ignore[no-untyped-def]
    area.set_tags([info("blue sky"), info("smile")])
    settle()
    renamed: list[tuple[str, str]] = []
    area.rename_requested.connect(lambda old, new: renamed.append((old, new)))
    sky = area.chip("blue sky")
    assert sky is not None and sky.editor is None  # no editor until a rename is asked for
    width = sky.width()
    qtbot.mouseDClick(sky, Qt.MouseButton.LeftButton, pos=QPoint(12, sky.height() // 2))
    settle()
    assert sky.editor is not None and sky.editor.isVisible() and sky.editor.text() == "blue sky"
    assert sky.width() > width  # the chip grows to hold the editor
    qtbot.keyClick(sky.editor, Qt.Key.Key_Escape)
    settle()
    assert not sky.editor.isVisible() and sky.width() == width and renamed == []
    sky.start_rename()
    sky.editor.setText("cloudy sky")
    qtbot.keyClick(sky.editor, Qt.Key.Key_Return)
    assert renamed == [("blue sky", "cloudy sky")]


def test_keyboard_reaches_chips_removes_and_renames(qtbot, area: TagChipArea) -> None:  # type: ignore[no-untyped-def]
    area.set_tags([info("a"), info("b")])
    settle()
    removed: list[str] = []
    area.remove_requested.connect(removed.append)
    a, b = area.chips
    assert a.focusPolicy() & Qt.FocusPolicy.TabFocus
    qtbot.keyClick(a, Qt.Key.Key_Delete)
    qtbot.keyClick(b, Qt.Key.Key_Backspace)
    assert removed == ["a", "b"]
    qtbot.keyClick(a, Qt.Key.Key_F2)
    assert a.editor is not None and a.editor.isVisible()


def test_a_change_lays_the_chips_out_a_few_times_not_once_per_chip(  # type: ignore[no-untyped-def]
    area: TagChipArea, monkeypatch
) -> None:
    """Regression (issue 20): each chip's own deferred show re-laid out every ancestor (~100 passes over the
    80 chips of a selection, 150 ms of GUI thread after Ctrl+A over 1M images)."""
    passes: list[int] = []
    arrange = FlowLayout._arrange

    def counted(self: FlowLayout, *args, **kwargs) -> int:  # type: ignore[no-untyped-def]
        passes.append(1)
        return arrange(self, *args, **kwargs)

    monkeypatch.setattr(FlowLayout, "_arrange", counted)
    area.set_counts([TagCount(f"tag {i}", "general", i + 1) for i in range(MAX_SELECTION_CHIPS)], 100)
    settle()
    assert len(area.chips) == MAX_SELECTION_CHIPS
    assert len(passes) < 20


def build_all(area: TagChipArea) -> int:
    """Run event-loop turns until the area has made every queued chip; how many turns that took."""
    turns = 0
    while area.building():
        assert turns < 50
        settle()
        turns += 1
    settle()
    return turns


def test_one_image_with_many_tags_gets_its_chips_over_a_few_event_loop_turns(area: TagChipArea) -> None:
    tags = [info(f"tag {i:03d}") for i in range(MAX_IMAGE_CHIPS + 50)]
    area.set_tags(tags)
    assert len(area.chips) == CHIP_BATCH and area.building()  # the first ones at once, the rest queued
    assert build_all(area) >= 1
    assert area.tags() == [f"tag {i:03d}" for i in range(MAX_IMAGE_CHIPS)]
    assert not area.reorderable and area.all_tags == [t.tag for t in tags]
    assert all(chip.isVisible() for chip in area.chips)
    more = area._more.geometry()  # "… and 50 more tags" after the last chip, not after the first batch
    assert area._more.isVisible() and "50 more tags" in area._more.text()
    last = area.chips[-1].geometry()
    assert more.top() > last.top() or (more.top() == last.top() and more.left() > last.left())


def test_a_newer_selection_wins_over_chips_still_being_built(area: TagChipArea) -> None:
    area.set_tags([info(f"old {i}") for i in range(300)])
    assert area.building()
    area.set_counts([TagCount("new", "general", 2)], 2)  # the user selected something else meanwhile
    assert not area.building()
    build_all(area)
    assert area.tags() == ["new"]
    assert [chip.tag for chip in area.findChildren(TagChip)] == ["new"]
    area.set_tags([info(f"a {i}") for i in range(200)])
    area.set_tags([info("b")])
    build_all(area)
    assert area.tags() == ["b"]


def test_a_tag_added_while_chips_are_built_goes_after_all_of_them(area: TagChipArea) -> None:
    area.set_tags([info(f"tag {i}") for i in range(200)])
    area.add_pending(["tag 150", "fresh"])  # "tag 150" is the image's own (not yet shown): no faded copy
    assert not area.building()
    assert area.tags() == [f"tag {i}" for i in range(200)] + ["fresh"]
    assert [chip.tag for chip in area.chips if chip.pending] == ["fresh"]


def test_a_hidden_area_makes_its_chips_when_shown(qtbot, area: TagChipArea) -> None:  # type: ignore[no-untyped-def]
    """The details' tab behind Annotate: a selection's chips are made when the user brings the details back."""
    page = area.parentWidget()
    assert page is not None
    page.hide()
    area.set_counts([TagCount("cat", "general", 2), TagCount("dog", "general", 1)], 2)
    settle()
    assert area.chips == [] and area.building()  # nothing made while nobody can see it
    page.show()
    settle()
    assert area.tags() == ["cat", "dog"] and not area.building()
    assert all(chip.isVisible() for chip in area.chips)
    page.hide()
    area.set_counts([TagCount("bird", "meta", 2)], 2)
    area.set_counts([TagCount("fish", "meta", 2)], 2)  # a newer selection while hidden replaces the older
    page.show()
    settle()
    assert area.tags() == ["fish"]
    assert [chip.tag for chip in area.findChildren(TagChip)] == ["fish"]


def test_details_behind_the_annotate_tab_make_the_selections_chips_when_raised(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    """In the window: Ctrl+A with the details in front shows the selection's chips; with the Annotate tab in
    front the details (still "visible" to Qt behind the tab) make none until the user raises them."""
    from lorairo.services.project_service import ProjectService

    from .factories import insert_images

    project = ProjectService(window.config).create("chips")
    ids = insert_images(project, [["cat", "outdoors"], ["cat"], ["dog"]], thumbnails=False)
    project.close()
    with qtbot.waitSignal(window.ensure_browser().query_finished, timeout=10_000):
        window.open_project("chips")
    details = window.panels["DetailsPanel"]
    chips = details.batch.chips
    window.select_all_action.trigger()
    qtbot.waitUntil(lambda: chips.tags() == ["cat", "dog", "outdoors"], timeout=10_000)
    assert chips.chip("dog") is not None and chips.chip("dog").text == "dog  1/3"  # type: ignore[union-attr]

    window.select_none_action.trigger()
    window.panel_docks["AnnotatePanel"].raise_()
    qtbot.waitUntil(lambda: not chips._shown)
    window.browser.grid.select_ids(ids[:2])
    qtbot.waitUntil(lambda: {t.tag for t in details.selection_tags} == {"cat", "outdoors"}, timeout=10_000)
    settle()
    assert chips.chips == [] and chips.building()  # counted, but no chip made behind the Annotate tab
    window.panel_docks["DetailsPanel"].raise_()
    qtbot.waitUntil(lambda: chips.tags() == ["cat", "outdoors"])
    assert chips.chip("outdoors").text == "outdoors  1/2"  # type: ignore[union-attr]
