"""DetailsPanel workflows (pytest-qt, offscreen): preview, tag chips, add/remove/rename with undo, caption,
rating and score saved, batch edits over a selection."""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from sqlalchemy import select

from lorairo.database.schema import CaptionRecord, ImageRecord, ModelRecord, QualityScoreRecord, TagRecord
from lorairo.gui.widgets.details import DetailsPanel
from lorairo.gui.workers import JobManager
from lorairo.services.changes import Changes
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.edit_service import EditService
from lorairo.services.project_service import Project, ProjectService
from lorairo.storage.layout import atomic_write_bytes, original_relpath, thumbnail_relpath

pytestmark = pytest.mark.gui


def add_image(
    project: Project,
    name: str,
    *,
    size: tuple[int, int] = (120, 80),
    color: tuple[int, int, int] = (200, 80, 40),
    orientation: int = 1,
    tags: dict[str, str] | None = None,
    thumbnail: bool = True,
) -> int:
    """Write a small JPEG (+ thumbnail) into the project and register it with model tags {tag: category}.
    Images must differ in size or colour (they are content-addressed). The near-duplicate tests use it too."""
    image = Image.new("RGB", size, color)
    image.paste((20, 20, 220), (0, 0, size[0] // 2, size[1] // 4))  # a marker in the top-left corner
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    image.save(buffer, "JPEG", quality=90, exif=exif.tobytes())
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    relpath = original_relpath(digest, name)
    atomic_write_bytes(project.root / relpath, data)
    if thumbnail:
        thumb = io.BytesIO()
        image.copy().save(thumb, "JPEG")
        atomic_write_bytes(project.root / thumbnail_relpath(digest), thumb.getvalue())
    shown = (size[1], size[0]) if orientation in (5, 6, 7, 8) else size
    with project.db.session(write=True) as s:
        model = s.scalar(select(ModelRecord).where(ModelRecord.name == "wd-vit-tagger-v3"))
        if model is None:
            model = ModelRecord(name="wd-vit-tagger-v3", provider="local", kind="tagger")
            s.add(model)
            s.flush()
        record = ImageRecord(
            file_path=relpath,
            file_name=name,
            original_path=f"/photos/{name}",
            file_size=len(data),
            width=shown[0],
            height=shown[1],
            format="JPEG",
            mode="RGB",
            exif_orientation=orientation,
            hash_value=digest,
            phash=f"{len(name):016x}",
            phash_int=len(name),
        )
        s.add(record)
        s.flush()
        for tag, category in (tags or {}).items():
            s.add(
                TagRecord(
                    image_id=record.id,
                    tag=tag,
                    category=category,
                    source="model",
                    model_id=model.id,
                    confidence=0.87,
                )
            )
        return record.id


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("details")
    yield project
    project.close()


@pytest.fixture
def panel(qtbot, project: Project) -> Iterator[DetailsPanel]:  # type: ignore[no-untyped-def]
    jobs = JobManager()
    widget = DetailsPanel(project, ConfigurationService(), jobs=jobs)
    qtbot.addWidget(widget)
    widget.resize(520, 900)
    widget.show()
    yield widget
    jobs.shutdown()


def active_tags(project: Project, image_id: int) -> dict[str, str]:
    with project.db.session() as s:
        rows = s.scalars(select(TagRecord).where(TagRecord.image_id == image_id, TagRecord.is_rejected.is_(False)))
        return {r.tag: r.source for r in rows}


def chip_tags(panel: DetailsPanel) -> set[str]:
    """Tags of the stored chips (an added tag shows a faded pending chip until its edit is stored)."""
    return {chip.tag for chip in panel.chips.chips if not chip.pending}


def test_shows_upright_preview_file_info_and_chips_with_provenance(qtbot, panel: DetailsPanel, project: Project):  # type: ignore[no-untyped-def]
    image_id = add_image(
        project, "rotated.jpg", size=(120, 80), orientation=6, tags={"1girl": "general", "hatsune miku": "character"}
    )
    panel.show_images([image_id])

    qtbot.waitUntil(lambda: panel.preview.has_image and panel.details is not None)
    size = panel.preview.image_size()
    assert size is not None and (size.width(), size.height()) == (80, 120)  # EXIF orientation 6 applied
    assert panel.title.text() == "rotated.jpg"
    assert "80 × 120" in panel.info_labels["Dimensions"].text()
    assert chip_tags(panel) == {"1girl", "hatsune miku"}
    chip = panel.chips.chip("hatsune miku")
    assert chip is not None and chip.category == "character"
    assert "wd-vit-tagger-v3" in chip.toolTip() and "0.87" in chip.toolTip()


def test_add_remove_rename_tags_with_undo_and_redo(qtbot, panel: DetailsPanel, project: Project):  # type: ignore[no-untyped-def]
    image_id = add_image(project, "a.jpg", tags={"smile": "general"})
    panel.show_images([image_id])
    qtbot.waitUntil(lambda: chip_tags(panel) == {"smile"})
    changed: list[list[int]] = []
    panel.images_changed.connect(changed.append)

    panel.tag_input.setText("long_hair, blue sky")
    panel.add_button.click()
    assert {chip.tag for chip in panel.chips.chips if chip.pending} == {"long hair", "blue sky"}  # at once
    qtbot.waitUntil(lambda: chip_tags(panel) == {"smile", "long hair", "blue sky"})
    assert active_tags(project, image_id) == {"smile": "model", "long hair": "manual", "blue sky": "manual"}
    assert changed == [[image_id]]

    smile = panel.chips.chip("smile")
    assert smile is not None
    qtbot.mouseClick(smile, Qt.MouseButton.LeftButton, pos=smile.close_rect().center())  # its ✕
    qtbot.waitUntil(lambda: "smile" not in chip_tags(panel))
    assert "smile" not in active_tags(project, image_id)
    assert "smile" in panel.rejected_label.text()

    sky = panel.chips.chip("blue sky")
    assert sky is not None
    qtbot.mouseDClick(sky, Qt.MouseButton.LeftButton, pos=QPoint(12, sky.height() // 2))
    assert sky.editor is not None and sky.editor.isVisible()
    sky.editor.setText("cloudy sky")
    sky.editor.returnPressed.emit()
    qtbot.waitUntil(lambda: chip_tags(panel) == {"long hair", "cloudy sky"})

    assert panel.undo_stack.count() == 3
    panel.undo_stack.undo()
    qtbot.waitUntil(lambda: chip_tags(panel) == {"long hair", "blue sky"})
    panel.undo_stack.undo()
    qtbot.waitUntil(lambda: chip_tags(panel) == {"smile", "long hair", "blue sky"})
    assert active_tags(project, image_id)["smile"] == "model"
    panel.undo_stack.redo()
    qtbot.waitUntil(lambda: "smile" not in chip_tags(panel))
    assert "smile" not in active_tags(project, image_id)


def test_caption_rating_and_score_are_saved(qtbot, panel: DetailsPanel, project: Project):  # type: ignore[no-untyped-def]
    first = add_image(project, "a.jpg")
    second = add_image(project, "b.jpg", color=(10, 120, 10))
    panel.show_images([first])
    qtbot.waitUntil(lambda: panel.details is not None)

    panel.caption_editor.setPlainText("a red square on a wall")
    panel.caption_editor.flush()  # what focus-out / Ctrl+Enter / the debounce timer do
    panel.rating_combo.setCurrentIndex(panel.rating_combo.findData("sensitive"))
    panel.rating_combo.activated.emit(panel.rating_combo.currentIndex())
    panel.score_spin.setValue(8.5)
    panel.score_spin.editingFinished.emit()

    def saved() -> bool:
        with project.db.session() as s:
            caption = s.scalar(select(CaptionRecord.text).where(CaptionRecord.image_id == first))
            score = s.scalar(select(QualityScoreRecord.value).where(QualityScoreRecord.image_id == first))
            rating = s.scalar(select(ImageRecord.manual_rating).where(ImageRecord.id == first))
        return (caption, rating, score) == ("a red square on a wall", "sensitive", 8.5)

    qtbot.waitUntil(saved)
    # A caption typed but not yet saved is saved when the selection moves on.
    panel.caption_editor.setPlainText("edited, then switched away")
    panel.show_images([second])
    qtbot.waitUntil(lambda: panel.details is not None and panel.details.image_id == second)
    panel.show_images([first])
    qtbot.waitUntil(lambda: panel.details is not None and panel.details.image_id == first)
    qtbot.waitUntil(lambda: panel.caption_editor.toPlainText() == "edited, then switched away")
    assert panel.rating_combo.currentData() == "sensitive"
    assert panel.score_spin.value() == 8.5


def test_batch_edit_over_selection_with_undo(qtbot, panel: DetailsPanel, project: Project):  # type: ignore[no-untyped-def]
    ids = [add_image(project, f"{i}.jpg", color=(i * 60, 100, 100), tags={"cat": "general"}) for i in range(3)]
    panel.show_images(ids)
    qtbot.waitUntil(lambda: [t.tag for t in panel.selection_tags] == ["cat"])
    assert panel.batch.title.text() == "3 images selected"

    panel.batch.add_input.setText("outdoors")
    panel.batch.add_button.click()
    qtbot.waitUntil(lambda: {t.tag for t in panel.selection_tags} == {"cat", "outdoors"})
    panel.batch.replace_old.setText("cat")
    panel.batch.replace_new.setText("kitten")
    panel.batch.replace_button.click()
    qtbot.waitUntil(lambda: {t.tag for t in panel.selection_tags} == {"kitten", "outdoors"})
    panel.batch.rating.setCurrentIndex(panel.batch.rating.findData("general"))
    panel.batch.rating_button.click()

    def rated() -> bool:
        with project.db.session() as s:
            return set(s.scalars(select(ImageRecord.manual_rating))) == {"general"}

    qtbot.waitUntil(rated)
    assert all(active_tags(project, i) == {"kitten": "manual", "outdoors": "manual"} for i in ids)

    chip = panel.batch.chips.chip("outdoors")
    assert chip is not None
    qtbot.mouseClick(chip, Qt.MouseButton.LeftButton, pos=chip.close_rect().center())
    qtbot.waitUntil(lambda: {t.tag for t in panel.selection_tags} == {"kitten"})
    panel.undo_stack.undo()
    qtbot.waitUntil(lambda: {t.tag for t in panel.selection_tags} == {"kitten", "outdoors"})
    panel.undo_stack.undo()  # rating
    panel.undo_stack.undo()  # replace
    qtbot.waitUntil(lambda: {t.tag for t in panel.selection_tags} == {"cat", "outdoors"})
    qtbot.waitUntil(lambda: all(active_tags(project, i) == {"cat": "model", "outdoors": "manual"} for i in ids))
    with project.db.session() as s:
        assert set(s.scalars(select(ImageRecord.manual_rating))) == {None}


def test_missing_file_and_missing_tag_database_are_shown(qtbot, panel: DetailsPanel, project: Project):  # type: ignore[no-untyped-def]
    image_id = add_image(project, "gone.jpg")
    with project.db.session() as s:
        path = project.root / s.scalar(select(ImageRecord.file_path).where(ImageRecord.id == image_id))
    Path(path).unlink()
    panel.show_images([image_id])
    qtbot.waitUntil(lambda: "missing" in panel.preview.message)
    # The test home has no tag database: tag editing still works, with a visible note.
    qtbot.waitUntil(lambda: panel.vocabulary_note.isVisible())
    assert "No tag database" in panel.vocabulary_note.text()


def test_set_project_none_shows_empty_state_and_clears_undo(qtbot, panel: DetailsPanel, project: Project):  # type: ignore[no-untyped-def]
    image_id = add_image(project, "a.jpg")
    panel.show_images([image_id])
    qtbot.waitUntil(lambda: panel.details is not None)
    panel.tag_input.setText("x")
    panel.add_button.click()
    qtbot.waitUntil(lambda: panel.undo_stack.count() == 1)
    panel.set_project(None)
    assert panel.undo_stack.count() == 0
    assert panel.pages.currentIndex() == 0
    assert panel.empty_label.text() == "Open a project first"


def test_ctrl_enter_saves_caption_without_a_newline(qtbot, panel: DetailsPanel, project: Project):  # type: ignore[no-untyped-def]
    from PySide6.QtCore import Qt

    image_id = add_image(project, "a.jpg")
    panel.show_images([image_id])
    qtbot.waitUntil(lambda: panel.details is not None)
    panel.caption_editor.setFocus()
    qtbot.keyClicks(panel.caption_editor, "sunset over hills")
    qtbot.keyClick(panel.caption_editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    def saved() -> str | None:
        with project.db.session() as s:
            return s.scalar(select(CaptionRecord.text).where(CaptionRecord.image_id == image_id))

    qtbot.waitUntil(lambda: saved() == "sunset over hills")
    assert panel.caption_editor.toPlainText() == "sunset over hills"
    qtbot.waitUntil(lambda: panel.undo_stack.count() == 1)


def test_main_window_form_follows_the_session_and_opens_near_duplicate_review(qtbot, project: Project):  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QWidget

    from lorairo.database.schema import NearDuplicateRecord
    from lorairo.gui.session import ProjectSession

    config = ConfigurationService()
    jobs = JobManager()
    session = ProjectSession(config, jobs)
    window = QWidget()
    qtbot.addWidget(window)
    panel = DetailsPanel(session, window)  # how MainWindow builds its panels
    window.show()  # chips are made once they can be seen (a hidden tab's are made when it is raised)
    assert panel.parent() is window and panel.jobs is jobs and panel.config is config
    assert not panel.duplicates_button.isEnabled()

    keep = add_image(project, "keep.jpg", size=(160, 120), tags={"cat": "general"})
    drop = add_image(project, "drop.jpg", size=(80, 60))
    with project.db.session(write=True) as s:
        s.add(NearDuplicateRecord(image_id=drop, match_image_id=keep, distance=2))
    session.project = project  # ProjectSession.set_project would close the previous project: none here
    session.project_changed.emit(project)
    panel.show_images([keep])
    qtbot.waitUntil(lambda: chip_tags(panel) == {"cat"})

    dialog = panel.open_near_duplicates()
    assert dialog is not None
    qtbot.waitUntil(lambda: len(dialog.cards) == 2)
    assert dialog.keep_id() == keep
    changed: list[Changes] = []
    session.changed.connect(changed.append)  # the one broadcast every view listens to
    dialog.resolve_button.click()
    qtbot.waitUntil(lambda: dialog.group_list.count() == 0)
    with project.db.session() as s:
        assert s.scalar(select(ImageRecord.excluded).where(ImageRecord.id == drop)) is True
    assert changed[0].image_ids == {keep, drop} and changed[0].exclusion
    panel.undo_button.click()  # the panel and the review share one history
    qtbot.waitUntil(lambda: dialog.group_list.count() == 1)
    assert changed[-1].image_ids == {keep, drop}  # undo is broadcast too
    # Another part of the window changed the image and broadcast it: the panel reloads what it shows.
    result = EditService(project).add_tags([keep], ["dog"])
    session.notify(result.to_changes())
    qtbot.waitUntil(lambda: chip_tags(panel) == {"cat", "dog"})
    session.project_changed.emit(None)
    assert panel.pages.currentIndex() == 0 and panel.undo_stack.count() == 0
    jobs.shutdown()


def test_large_selection_shows_the_most_common_tags_only(qtbot, panel: DetailsPanel, project: Project):  # type: ignore[no-untyped-def]
    from lorairo.gui.widgets.details.tag_chips import MAX_SELECTION_CHIPS

    many = {f"tag {i:03d}": "general" for i in range(MAX_SELECTION_CHIPS + 20)}
    ids = [
        add_image(project, "a.jpg", tags=many),
        add_image(project, "b.jpg", color=(1, 2, 3), tags={"tag 150": "meta"}),
    ]
    panel.show_images(ids)
    qtbot.waitUntil(lambda: len(panel.selection_tags) == MAX_SELECTION_CHIPS + 21)
    assert len(panel.batch.chips.chips) == MAX_SELECTION_CHIPS
    assert panel.batch.chips.chips[0].tag == "tag 000"
    assert "21 more tags" in panel.batch.chips._more.text()


def test_no_horizontal_scrollbar_at_the_default_width_even_for_long_names(  # type: ignore[no-untyped-def]
    qtbot, panel: DetailsPanel, project: Project
) -> None:
    """Regression: a file name or path with no break opportunity set the panel's minimum width, so a reopened
    window's dock (its saved width) showed a horizontal scrollbar. Long names are clipped (full text in the
    tooltip) and wrap where they can."""
    from PySide6.QtWidgets import QScrollArea

    name = "IMG_" + "0123456789" * 9 + "_final_final_export.png"
    image_id = add_image(project, name, tags={"long_tag_" + "x" * 40: "general", "smile": "general"})
    panel.resize(340, 900)  # the dock's width on a 1024 px wide window
    panel.show_images([image_id])
    qtbot.waitUntil(lambda: panel.details is not None and panel.title.text() == name)
    qtbot.wait(50)  # let the layout settle
    scroll = next(a for a in panel.view.findChildren(QScrollArea) if a.isVisible())
    assert scroll.horizontalScrollBar().maximum() == 0
    assert not scroll.horizontalScrollBar().isVisible()
    assert panel.title.toolTip().startswith(name)


def test_several_captions_added_reordered_removed_stored_in_order_and_exported(  # type: ignore[no-untyped-def]
    qtbot, panel: DetailsPanel, project: Project, tmp_path: Path
):
    import tomllib

    from lorairo.services.export_service import ExportService

    image_id = add_image(project, "a.jpg")
    panel.show_images([image_id])
    qtbot.waitUntil(lambda: panel.details is not None)
    captions = panel.view.captions

    def stored() -> list[str]:
        with project.db.session() as s:
            return list(
                s.scalars(
                    select(CaptionRecord.text)
                    .where(CaptionRecord.image_id == image_id, CaptionRecord.source == "manual")
                    .order_by(CaptionRecord.id)
                )
            )

    captions.first.setPlainText("a red square")
    captions.first.flush()
    for text in ("a blue corner", "abstract art"):
        qtbot.mouseClick(captions.add_button, Qt.MouseButton.LeftButton)
        editor = captions.rows[-1].editor
        editor.setPlainText(text)
        editor.flush()
    qtbot.waitUntil(lambda: stored() == ["a red square", "a blue corner", "abstract art"])
    qtbot.mouseClick(captions.rows[2].up, Qt.MouseButton.LeftButton)  # "abstract art" one place up
    qtbot.waitUntil(lambda: stored() == ["a red square", "abstract art", "a blue corner"])
    qtbot.mouseClick(captions.rows[0].remove, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: stored() == ["abstract art", "a blue corner"])
    assert captions.values() == ["abstract art", "a blue corner"]
    qtbot.waitUntil(lambda: captions.saving == 0)  # the removal is on the edit history
    panel.undo_stack.undo()  # the removal comes back, in its place
    qtbot.waitUntil(lambda: stored() == ["a red square", "abstract art", "a blue corner"])
    qtbot.waitUntil(lambda: captions.values() == ["a red square", "abstract art", "a blue corner"])

    service = ExportService(ConfigurationService(), project)
    assert service.images_with_several_captions() == 1  # the export dialog writes every caption by default
    target = tmp_path / "kohya"
    service.export(service.default_options(target, format="kohya", caption_mode="caption", all_captions=True))
    lines = next(target.glob("*/a.txt")).read_text(encoding="utf-8").splitlines()
    assert lines == ["a red square", "abstract art", "a blue corner"]
    config = tomllib.loads((target / "dataset_config.toml").read_text(encoding="utf-8"))
    assert config["general"]["enable_wildcard"] is True
