"""DetailsPanel: preview, file info and editing of the selected image(s).

One image selected: a large EXIF-upright preview, file info, tags as chips (add / remove / rename), the
caption editor, manual rating and score, model output and failures. Several selected: the batch editor.
Every read and every edit runs through the worker helper (reads on the default pool, edits on the single
"write" pool); edits go onto `undo_stack` and `images_changed(list[int])` tells the rest of the window what
changed. The panel holds only IDs and frozen snapshots, never a session.

Thread-safety: GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorairo.gui.session import ProjectSession
from lorairo.gui.widgets.details.batch_editor import BatchEditor, split_tags
from lorairo.gui.widgets.details.editors import CaptionEditor, RatingCombo, ScoreSpin
from lorairo.gui.widgets.details.preview import PreviewView, decode_preview
from lorairo.gui.widgets.details.tag_chips import TagChipArea
from lorairo.gui.widgets.details.tag_source import NO_DATABASE_NOTE, TagVocabulary
from lorairo.gui.widgets.details.undo import EditUndoCommand
from lorairo.gui.widgets.tag_completer import TagLineEdit
from lorairo.gui.workers import JobError, JobManager
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.edit_service import EditResult, EditService, ImageDetails, TagCount
from lorairo.services.project_service import Project

if TYPE_CHECKING:
    from lorairo.gui.dialogs.near_duplicates import NearDuplicateDialog

CATEGORY_ORDER = ("character", "copyright", "artist", "general", "meta", "rating")
PAGE_EMPTY, PAGE_SINGLE, PAGE_BATCH = 0, 1, 2


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def _section(title: str, parent: QWidget) -> tuple[QGroupBox, QVBoxLayout]:
    box = QGroupBox(title, parent)
    layout = QVBoxLayout(box)
    layout.setContentsMargins(8, 6, 8, 8)
    return box, layout


def _muted(text: str, parent: QWidget) -> QLabel:
    label = QLabel(text, parent)
    label.setWordWrap(True)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setStyleSheet("color: palette(placeholder-text);")
    return label


class DetailsPanel(QWidget):
    """Shows and edits the images given to `show_images`. Put `undo_stack`'s actions in the Edit menu
    (the panel has Undo/Redo buttons of its own but no shortcuts, so it never competes with the window's)."""

    images_changed = Signal(list)  # list[int]: images whose tags / caption / rating / score / exclusion changed

    def __init__(
        self,
        project: Project | ProjectSession | None,
        config: ConfigurationService | QWidget | None = None,
        parent: QWidget | None = None,
        *,
        jobs: JobManager | None = None,
    ) -> None:
        """Create the panel.

        Args:
            project: The open project (or None), or the main window's `ProjectSession`: then the panel
                follows its project, uses its configuration and JobManager, and reloads on its `images_changed`.
            config: The configuration service (taken from the session when one is given). The main window's
                form `DetailsPanel(session, parent)` is accepted too.
            parent: Parent widget.
            jobs: The window's JobManager (so errors reach its error panel); a private one otherwise.
        """
        if isinstance(config, QWidget):  # DetailsPanel(session, parent)
            config, parent = None, config
        session = project if isinstance(project, ProjectSession) else None
        super().__init__(parent)
        self.session = session
        self.config = session.config if session is not None else config
        if jobs is None and session is not None:
            jobs = session.jobs
        self.jobs = jobs if jobs is not None else JobManager(self)
        self.undo_stack = QUndoStack(self)
        self.vocabulary = TagVocabulary()
        self.project: Project | None = None
        self.service: EditService | None = None
        self.details: ImageDetails | None = None
        self.selection_tags: list[TagCount] = []
        self._ids: list[int] = []
        self._generation = 0
        self._duplicates_dialog: NearDuplicateDialog | None = None
        self._build()
        self.jobs.submit(
            "Open tag database",
            lambda _ctx: self.vocabulary.available(),
            on_result=self._vocabulary_ready,
            visible=False,
        )
        self._warmed = False
        for field in (self.tag_input, self.batch.add_input, self.batch.replace_old, self.batch.replace_new):
            field.installEventFilter(self)
        if session is not None:
            session.project_changed.connect(self.set_project)
            session.images_changed.connect(self.refresh)
            self.set_project(session.project)
        else:
            self.set_project(project if isinstance(project, Project) else None)

    # --- building ------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.pages = QStackedWidget(self)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.setSpacing(2)
        history = QHBoxLayout()
        history.setContentsMargins(4, 2, 4, 0)
        self.undo_button = QToolButton(self)
        self.undo_button.setDefaultAction(self.undo_stack.createUndoAction(self, "Undo"))
        self.redo_button = QToolButton(self)
        self.redo_button.setDefaultAction(self.undo_stack.createRedoAction(self, "Redo"))
        self.duplicates_button = QPushButton("Review near-duplicates…", self)
        self.duplicates_button.setToolTip("See near-identical images side by side, keep one, exclude the others")
        self.duplicates_button.clicked.connect(self.open_near_duplicates)
        history.addWidget(self.undo_button)
        history.addWidget(self.redo_button)
        history.addStretch(1)
        history.addWidget(self.duplicates_button)
        outer.addLayout(history)
        outer.addWidget(self.pages)
        self.status = QLabel(self)
        self.status.setWordWrap(True)
        self.status.setStyleSheet("color: #c0392b;")
        self.status.hide()
        outer.addWidget(self.status)

        self.empty_label = QLabel("Select an image to see its details", self)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setEnabled(False)
        self.pages.addWidget(self.empty_label)

        splitter = QSplitter(Qt.Orientation.Vertical, self)
        self.splitter = splitter
        self.preview = PreviewView(splitter)
        splitter.addWidget(self.preview)
        scroll = QScrollArea(splitter)
        scroll.setWidgetResizable(True)
        body = QWidget(scroll)
        scroll.setWidget(body)
        splitter.addWidget(scroll)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 4)
        self.pages.addWidget(splitter)
        layout = QVBoxLayout(body)

        self.title = QLabel(body)
        self.title.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.excluded_badge = QLabel("Excluded from export", body)
        self.excluded_badge.setStyleSheet("color: white; background: #c0392b; border-radius: 4px; padding: 1px 6px;")
        header = QHBoxLayout()
        header.addWidget(self.title, 1)
        header.addWidget(self.excluded_badge)
        layout.addLayout(header)
        info = QFormLayout()
        info.setHorizontalSpacing(12)
        info.setVerticalSpacing(2)
        self.info_labels: dict[str, QLabel] = {}
        for key in ("Dimensions", "File", "Imported", "Path", "Also at"):
            label = QLabel(body)
            label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(True)
            self.info_labels[key] = label
            info.addRow(f"{key}:", label)
        layout.addLayout(info)

        tags_box, tags_layout = _section("Tags", body)
        self.tags_box = tags_box
        self.chips = TagChipArea(tags_box)
        self.chips.remove_requested.connect(lambda tag: self._edit_tags("remove", [tag]))
        self.chips.rename_requested.connect(self._rename)
        tags_layout.addWidget(self.chips)
        add_row = QHBoxLayout()
        self.tag_input = TagLineEdit(self.jobs, self.vocabulary.suggest, tags_box)
        self.tag_input.setPlaceholderText("Add tags (comma-separated), Enter to add")
        self.tag_input.returnPressed.connect(self._add_from_input)
        self.add_button = QPushButton("Add", tags_box)
        self.add_button.clicked.connect(self._add_from_input)
        add_row.addWidget(self.tag_input, 1)
        add_row.addWidget(self.add_button)
        tags_layout.addLayout(add_row)
        self.vocabulary_note = _muted(NO_DATABASE_NOTE, tags_box)
        self.vocabulary_note.setTextFormat(Qt.TextFormat.RichText)
        self.vocabulary_note.hide()
        tags_layout.addWidget(self.vocabulary_note)
        self.rejected_label = _muted("", tags_box)
        tags_layout.addWidget(self.rejected_label)
        layout.addWidget(tags_box)

        caption_box, caption_layout = _section("Caption", body)
        self.caption_editor = CaptionEditor(caption_box)
        self.caption_editor.setFixedHeight(72)
        self.caption_editor.save_requested.connect(self._save_caption)
        caption_layout.addWidget(self.caption_editor)
        self.model_captions = _muted("", caption_box)
        caption_layout.addWidget(self.model_captions)
        layout.addWidget(caption_box)

        rating_box, rating_layout = _section("Rating and score", body)
        row = QHBoxLayout()
        self.rating_combo = RatingCombo(rating_box)
        self.rating_combo.rating_chosen.connect(lambda label: self._set_rating(self._ids, label))
        self.score_spin = ScoreSpin(rating_box)
        self.score_spin.score_chosen.connect(lambda value: self._set_score(self._ids, value))
        row.addWidget(QLabel("Rating", rating_box))
        row.addWidget(self.rating_combo)
        row.addSpacing(16)
        row.addWidget(QLabel("Score", rating_box))
        row.addWidget(self.score_spin)
        row.addStretch(1)
        rating_layout.addLayout(row)
        self.model_scores = _muted("", rating_box)
        rating_layout.addWidget(self.model_scores)
        layout.addWidget(rating_box)

        self.failures_box, failures_layout = _section("Annotation failures", body)
        self.failures_label = QLabel(self.failures_box)
        self.failures_label.setWordWrap(True)
        self.failures_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        failures_layout.addWidget(self.failures_label)
        layout.addWidget(self.failures_box)
        layout.addStretch(1)

        self.batch = BatchEditor(self.jobs, self.vocabulary.suggest, self)
        self.batch.add_requested.connect(lambda tags: self._edit_tags("add", tags))
        self.batch.remove_requested.connect(lambda tags: self._edit_tags("remove", tags))
        self.batch.replace_requested.connect(self._rename)
        self.batch.rating_requested.connect(lambda label: self._set_rating(self._ids, label))
        self.batch.score_requested.connect(lambda value: self._set_score(self._ids, value))
        batch_scroll = QScrollArea(self)
        batch_scroll.setWidgetResizable(True)
        batch_scroll.setWidget(self.batch)
        self.pages.addWidget(batch_scroll)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if not self._warmed and event.type() == QEvent.Type.FocusIn:
            self._warmed = True
            self.jobs.submit(
                "Prepare tag autocomplete",
                lambda _ctx: self.vocabulary.warm_up(),
                on_result=self._vocabulary_ready,
                visible=False,
            )
        return False

    # --- public API ----------------------------------------------------------------------------------

    @property
    def image_ids(self) -> list[int]:
        return list(self._ids)

    def set_project(self, project: Project | None) -> None:
        """Switch to another project (or none): clears the selection and the undo history."""
        self.caption_editor.flush()
        self.project = project
        self.service = EditService(project, categorize=self.vocabulary.categorize) if project else None
        self.undo_stack.clear()
        if self._duplicates_dialog is not None:
            self._duplicates_dialog.close()
            self._duplicates_dialog.deleteLater()
            self._duplicates_dialog = None
        self.duplicates_button.setEnabled(project is not None)
        self.show_images([])

    def show_images(self, image_ids: list[int]) -> None:
        """Show one image's details, the batch editor for several, or the empty page for none."""
        if self._ids and self.pages.currentIndex() == PAGE_SINGLE:
            self.caption_editor.flush()  # a pending caption belongs to the image being left
        self._ids = list(dict.fromkeys(image_ids))
        self._generation += 1
        self.details = None
        self.status.hide()
        if not self._ids or self.service is None:
            self.empty_label.setText(
                "Open a project first" if self.service is None else "Select an image to see its details"
            )
            self.pages.setCurrentIndex(PAGE_EMPTY)
            return
        if len(self._ids) == 1:
            self.pages.setCurrentIndex(PAGE_SINGLE)
            self.preview.set_message("Loading…")
            self._load_details(with_preview=True)
        else:
            self.pages.setCurrentIndex(PAGE_BATCH)
            self.batch.set_selection(len(self._ids), [])
            self._load_selection_tags()

    def open_near_duplicates(self) -> NearDuplicateDialog | None:
        """Open the near-duplicate review for the current project (shares this panel's undo history)."""
        if self.project is None:
            return None
        from lorairo.gui.dialogs.near_duplicates import NearDuplicateDialog  # imported on use: a dialog

        # One dialog per project, kept while the project is open: commands on the shared undo stack call back
        # into it, so it must outlive its window being closed.
        if self._duplicates_dialog is None:
            dialog = NearDuplicateDialog(self.project, self.window(), jobs=self.jobs, undo_stack=self.undo_stack)
            dialog.images_changed.connect(self.images_changed)
            dialog.images_changed.connect(self.refresh)
            self._duplicates_dialog = dialog
        else:
            self._duplicates_dialog.reload()
        self._duplicates_dialog.show()
        self._duplicates_dialog.raise_()
        return self._duplicates_dialog

    def refresh(self, image_ids: list[int] | None = None) -> None:
        """Reload what is shown if it is among `image_ids` (None: always), e.g. after an annotation run."""
        if image_ids is not None and not set(image_ids) & set(self._ids):
            return
        if len(self._ids) == 1:
            self._load_details(with_preview=False)
        elif self._ids:
            self._load_selection_tags()

    # --- loading -------------------------------------------------------------------------------------

    def _read(self, title: str, fn: Callable[[], Any], on_result: Callable[[Any], None], on_error: Any = None) -> None:
        """Run a read on a worker; its result (or error) is dropped if the selection moved on meanwhile."""
        generation = self._generation
        report = on_error or self._show_error

        def done(value: Any) -> None:
            if generation == self._generation:
                on_result(value)

        def failed(error: JobError) -> None:
            if generation == self._generation:
                report(error)

        self.jobs.submit(title, lambda _ctx: fn(), on_result=done, on_error=failed, visible=False)

    def _load_details(self, *, with_preview: bool) -> None:
        service, image_id = self.service, self._ids[0]
        if service is None:
            return

        def done(details: ImageDetails) -> None:
            self._populate(details)
            if with_preview:
                path = details.path
                self._read(
                    "Decode preview",
                    lambda: decode_preview(path),
                    self.preview.set_image,
                    lambda error: self.preview.set_message(error.message),
                )

        self._read("Load image details", lambda: service.get_image_details(image_id), done)

    def _load_selection_tags(self) -> None:
        service, ids = self.service, list(self._ids)
        if service is None:
            return

        def done(tags: list[TagCount]) -> None:
            self.selection_tags = tags
            self.batch.set_selection(len(ids), tags)

        self._read("Load selection tags", lambda: service.tag_counts(ids), done)

    def _populate(self, details: ImageDetails) -> None:
        self.details = details
        self.title.setText(details.file_name)
        self.title.setToolTip(f"Image #{details.image_id}")
        self.excluded_badge.setVisible(details.excluded)
        orientation = f" (EXIF orientation {details.exif_orientation})" if details.exif_orientation != 1 else ""
        self.info_labels["Dimensions"].setText(f"{details.width} × {details.height}{orientation}")
        alpha = " · alpha" if details.has_alpha else ""
        self.info_labels["File"].setText(f"{details.format} · {details.mode}{alpha} · {human_size(details.file_size)}")
        self.info_labels["Imported"].setText(details.imported_at.strftime("%Y-%m-%d %H:%M"))
        where = "copied into the project" if details.stored_in_project else "referenced in place"
        self.info_labels["Path"].setText(f"{details.original_path} ({where})")
        self.info_labels["Path"].setToolTip(str(details.path))
        self.info_labels["Also at"].setText("\n".join(details.other_paths) or "—")

        def order(info: object) -> tuple[int, str]:
            category = getattr(info, "category", None)
            rank = CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)
            return rank, str(getattr(info, "tag", ""))

        tags = sorted(details.tags, key=order)
        self.tags_box.setTitle(f"Tags ({len(tags)})")
        self.chips.set_tags(tags)
        rejected = ", ".join(t.tag for t in details.rejected_tags)
        self.rejected_label.setText(f"Removed model/sidecar tags (kept out of export): {rejected}" if rejected else "")
        self.rejected_label.setVisible(bool(rejected))

        if not self.caption_editor.dirty or not self.caption_editor.hasFocus():
            self.caption_editor.set_value(details.manual_caption or "")
        others = [c for c in details.captions if c.source != "manual"]
        self.model_captions.setText("\n".join(f"{c.model or c.source}: {c.text}" for c in others))
        self.model_captions.setVisible(bool(others))

        self.rating_combo.set_value(details.manual_rating)
        self.score_spin.set_value(details.manual_score)
        lines = [
            f"{s.name} ({s.model or s.source}): {s.value:.3g} on {s.scale_min:g}–{s.scale_max:g}"
            for s in details.scores
            if s.source != "manual"
        ]
        lines += [f"rating ({r.model or r.source}): {r.label}" for r in details.ratings]
        self.model_scores.setText("\n".join(lines))
        self.model_scores.setVisible(bool(lines))

        self.failures_box.setVisible(bool(details.failures))
        self.failures_label.setText(
            "\n".join(
                f"{f.model} ({f.provider}): {f.reason}{' [policy]' if f.policy_violation else ''}"
                f"{' — ' + f.message if f.message else ''}"
                for f in details.failures
            )
        )

    def _vocabulary_ready(self, available: bool) -> None:
        self.vocabulary_note.setVisible(not available)

    def _show_error(self, error: JobError) -> None:
        self.status.setText(error.message)
        self.status.show()

    # --- edits ---------------------------------------------------------------------------------------

    def _submit_edit(self, title: str, fn: Callable[[EditService], EditResult]) -> None:
        service = self.service
        if service is None:
            return

        def done(result: EditResult) -> None:
            if result.changed and service is self.service:
                self.undo_stack.push(EditUndoCommand(self.jobs, service, result, self._applied))
                self._applied(result)

        self.jobs.submit(title, lambda _ctx: fn(service), on_result=done, on_error=self._show_error, pool="write")

    def _applied(self, result: EditResult) -> None:
        """An edit, undo or redo landed: tell the window and reload what is shown if it changed."""
        self.status.hide()
        if result.changed_ids:
            self.images_changed.emit(list(result.changed_ids))
            self.refresh(list(result.changed_ids))

    def _edit_tags(self, action: str, tags: list[str]) -> None:
        ids = list(self._ids)
        if not ids or not tags:
            return
        if action == "add":
            self._submit_edit("Add tags", lambda s: s.add_tags(ids, tags))
        else:
            self._submit_edit("Remove tags", lambda s: s.remove_tags(ids, tags))

    def _add_from_input(self) -> None:
        tags = split_tags(self.tag_input.text())
        if tags:
            self.tag_input.clear()
            self._edit_tags("add", tags)

    def _rename(self, old: str, new: str) -> None:
        ids = list(self._ids)
        if ids:
            self._submit_edit("Rename tag", lambda s: s.rename_tag(ids, old, new))

    def _save_caption(self, text: str) -> None:
        if len(self._ids) == 1:
            image_id = self._ids[0]
            self._submit_edit("Save caption", lambda s: s.set_caption(image_id, text))

    def _set_rating(self, ids: list[int], label: str | None) -> None:
        ids = list(ids)
        if ids:
            self._submit_edit("Set rating", lambda s: s.set_rating(ids, label))

    def _set_score(self, ids: list[int], value: float | None) -> None:
        ids = list(ids)
        if ids:
            self._submit_edit("Set score", lambda s: s.set_score(ids, value))
