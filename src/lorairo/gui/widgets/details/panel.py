"""DetailsPanel: preview, file info and editing of the selected image(s).

One image selected: a large EXIF-upright preview, file info, tags as chips (add / remove / rename), the
caption editor, manual rating and score, model output and failures. Several selected: the batch editor.
Every read and every edit runs through the worker helper (reads on the default pool, edits on the single
"write" pool); edits go onto `undo_stack`, and each edit, undo or redo ends in `session.notify(changes)` (the one
broadcast every view listens to; without a session, `images_changed(list[int])`). The panel holds only IDs and
frozen snapshots, never a database session.

Thread-safety: GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QAction, QUndoStack
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QStackedWidget,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorairo.gui.models.selected_ids import SelectedIds
from lorairo.gui.session import ProjectSession
from lorairo.gui.widgets.details.batch_editor import BatchEditor
from lorairo.gui.widgets.details.image_view import ImageView
from lorairo.gui.widgets.details.preview import decode_preview
from lorairo.gui.widgets.details.tag_source import shared_vocabulary, vocabulary_events
from lorairo.gui.widgets.details.undo import EditUndoCommand
from lorairo.gui.widgets.tag_completer import project_and_vocabulary
from lorairo.gui.workers import JobError, JobManager
from lorairo.services.caption_preview import caption_preview, export_options, export_tag_order
from lorairo.services.changes import Changes
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.edit_service import EditResult, EditService, ImageDetails, TagCount, normalize_tag
from lorairo.services.export.options import ExportOptions
from lorairo.services.project_service import Project

if TYPE_CHECKING:
    from lorairo.gui.dialogs.near_duplicates import NearDuplicateDialog

PAGE_EMPTY, PAGE_SINGLE, PAGE_BATCH = 0, 1, 2


HISTORY_BUTTON_WIDTH = 130  # "Undo Rename long hair to very long hair" must not widen the panel


class _HistoryButton(QToolButton):
    """A tool button for an undo / redo action whose label is elided to a fixed width (the whole text is its
    tooltip): QUndoStack names the edit in the label, and a long tag name would otherwise widen the dock."""

    def __init__(self, action: QAction, parent: QWidget) -> None:
        super().__init__(parent)
        self.setDefaultAction(action)
        self.setMaximumWidth(HISTORY_BUTTON_WIDTH)
        # A bound slot: the connection ends with the button. It runs after the button copied the action's text
        # (the action's `changed` signal follows its ActionChanged event), so the elided text is what stays.
        action.changed.connect(self._elide)
        self._elide()

    def _elide(self) -> None:
        action = self.defaultAction()
        if action is None:
            return
        full = action.text()
        room = HISTORY_BUTTON_WIDTH - 2 * self.style().pixelMetric(QStyle.PixelMetric.PM_ButtonMargin) - 8
        self.setText(self.fontMetrics().elidedText(full, Qt.TextElideMode.ElideRight, room))
        self.setToolTip(full)


class DetailsPanel(QWidget):
    """Shows and edits the images given to `show_images`. Put `undo_stack`'s actions in the Edit menu
    (the panel has Undo/Redo buttons of its own but no shortcuts, so it never competes with the window's)."""

    images_changed = Signal(list)  # list[int]: images whose tags / caption / rating / score / exclusion changed
    compare_requested = Signal(int, int)  # the near-duplicate review asks for two images side by side

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
                follows its project, uses its configuration and JobManager, and reloads on its `changed`.
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
        self.vocabulary = shared_vocabulary()
        self.suggest = project_and_vocabulary(lambda: self.project, self.vocabulary)
        self.project: Project | None = None
        self.service: EditService | None = None
        self.details: ImageDetails | None = None
        self.selection_tags: list[TagCount] = []
        self._ids: Sequence[int] = []  # the grid's SelectedIds (never copied on the GUI thread) or a list
        self._generation = 0
        self._details_request = 0
        self._duplicates_dialog: NearDuplicateDialog | None = None
        self._build()
        self.jobs.submit(
            "Open tag database",
            lambda _ctx: self.vocabulary.available(),
            on_result=self._vocabulary_ready,
            visible=False,
        )
        self._warmed = False
        vocabulary_events().reloaded.connect(self._vocabulary_ready)  # an import from Tools > Tag vocabulary
        self.preview_enabled = True  # off while the window's viewer shows the image large (one decode, not two)
        for field in (self.tag_input, self.batch.add_input, self.batch.replace_old, self.batch.replace_new):
            field.installEventFilter(self)
        if isinstance(self.config, ConfigurationService):
            unsubscribe = self.config.subscribe(self._setting_changed)
            self.destroyed.connect(lambda *_a: unsubscribe())
        if session is not None:
            session.project_changed.connect(self.set_project)
            session.changed.connect(self._changed)
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
        self.undo_button = _HistoryButton(self.undo_stack.createUndoAction(self, "Undo"), self)
        self.redo_button = _HistoryButton(self.undo_stack.createRedoAction(self, "Redo"), self)
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

        self.view = ImageView(self.jobs, self.suggest, self)
        self.view.remove_requested.connect(lambda tag: self._edit_tags("remove", [tag]))
        self.view.rename_requested.connect(self._rename)
        self.view.add_requested.connect(lambda tags: self._edit_tags("add", tags))
        self.view.reorder_requested.connect(self._reorder)
        self.view.caption_save_requested.connect(self._save_caption)
        self.view.captions_save_requested.connect(self._save_captions)
        self.view.rating_chosen.connect(lambda label: self._set_rating(self._ids, label))
        self.view.score_chosen.connect(lambda value: self._set_score(self._ids, value))
        self.pages.addWidget(self.view)
        # Short names for the view's widgets (tests and the main window reach them through the panel).
        self.splitter = self.view
        self.preview, self.chips, self.tag_input = self.view.preview, self.view.chips, self.view.tag_input
        self.add_button, self.caption_editor = self.view.add_button, self.view.caption_editor
        self.rating_combo, self.score_spin = self.view.rating_combo, self.view.score_spin
        self.title, self.info_labels = self.view.title, self.view.info_labels
        self.vocabulary_note, self.rejected_label = self.view.vocabulary_note, self.view.rejected_label

        self.batch = BatchEditor(self.jobs, self.suggest, self)
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
        self.view.captions.flush()
        self.project = project
        self.service = EditService(project, categorize=self.vocabulary.categorize) if project else None
        self.undo_stack.clear()
        if self._duplicates_dialog is not None:
            self._duplicates_dialog.close()
            self._duplicates_dialog.deleteLater()
            self._duplicates_dialog = None
        self.duplicates_button.setEnabled(project is not None)
        self.show_images([])

    def set_shown(self, shown: bool) -> None:
        """Whether the user can see the panel (its dock's tab chosen or left; the main window calls this): the
        tag chips of a selection made meanwhile are made when it is seen again."""
        self.chips.set_shown(shown)
        self.batch.chips.set_shown(shown)

    def show_images(self, image_ids: Sequence[int]) -> None:
        """Show one image's details, the batch editor for several, or the empty page for none."""
        if self._ids and self.pages.currentIndex() == PAGE_SINGLE:
            self.view.captions.flush()  # a pending caption belongs to the image being left
        # The grid's selection is unique and immutable already: kept as it is (a 1M-image Ctrl+A copied into a
        # de-duplicated list cost the GUI thread ~100 ms); other callers' lists are de-duplicated.
        wanted = image_ids if isinstance(image_ids, SelectedIds) else list(dict.fromkeys(image_ids))
        if len(wanted) == 1 and list(wanted) == list(self._ids) and self.pages.currentIndex() == PAGE_SINGLE:
            return  # already shown or loading (the keyboard path shows the next image before the grid says so)
        self._ids = wanted
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
            self._load_details(with_preview=self.preview_enabled)
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
            dialog.changed.connect(self._broadcast)
            dialog.compare_requested.connect(self.compare_requested)
            self._duplicates_dialog = dialog
        else:
            self._duplicates_dialog.reload()
        self._duplicates_dialog.show()
        self._duplicates_dialog.raise_()
        return self._duplicates_dialog

    def _changed(self, changes: Changes) -> None:
        # Look the shown images up in the change's sets: copying a project-wide change (65k ids) into lists and
        # sets here cost the GUI thread tens of ms after every rename.
        if any(self._shows_any(s) for s in (changes.image_ids, changes.added, changes.removed)):
            self.refresh()

    def _shows_any(self, image_ids: Collection[int]) -> bool:
        """Whether any of `image_ids` is shown. Walks the smaller side: a 1M-image selection is never iterated
        (nor made a set) for a 300-image import batch, and a project-wide change not for a single image."""
        if len(image_ids) < len(self._ids):
            return any(image_id in self._ids for image_id in image_ids)
        return any(image_id in image_ids for image_id in self._ids)

    def refresh(self, image_ids: Collection[int] | None = None) -> None:
        """Reload what is shown if it is among `image_ids` (None: always), e.g. after an annotation run."""
        if image_ids is not None and not self._shows_any(set(image_ids) if len(image_ids) > 64 else image_ids):
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
        # Reloads may answer out of order (several edits in a row): only the newest request is shown.
        self._details_request += 1
        request = self._details_request

        def done(details: ImageDetails) -> None:
            if request != self._details_request:
                return
            self._populate(details)
            several = sum(c.source == "manual" for c in details.captions) > 1
            self._load_caption_line(details.image_id, several=several)
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
        service, ids = self.service, self._ids  # immutable: the worker reads it, no copy here
        if service is None:
            return

        def done(tags: list[TagCount]) -> None:
            self.selection_tags = tags
            self.batch.set_selection(len(ids), tags)

        self._read("Load selection tags", lambda: service.tag_counts(ids), done)

    def _populate(self, details: ImageDetails) -> None:
        self.details = details
        options = self._export_options()
        order = export_tag_order(details.tags, details.rejected_tags, options) if options is not None else None
        self.view.populate(details, order)

    def _export_options(self) -> ExportOptions | None:
        """The options an export would use now (the config's [export] section), or None without a project."""
        if self.project is None or not isinstance(self.config, ConfigurationService):
            return None
        return export_options(self.config, self.project)

    def _load_caption_line(self, image_id: int, *, several: bool = False) -> None:
        """Compose, on a worker, the caption export would write for the image (the export's own code). With
        several captions of its own, every one is shown: the export dialog writes them all by default then."""
        project, options = self.project, self._export_options()
        if project is None or options is None:
            self.view.set_caption_line((), "")
            return
        if several:
            options = options.with_changes(all_captions=True)
        self._read(
            "Compose caption line",
            lambda: caption_preview(project, options, image_id),
            lambda preview: self.view.set_caption_line(preview.lines, preview.note),
        )

    def _setting_changed(self, key: str, _value: object) -> None:
        if key.startswith("export.") and len(self._ids) == 1:
            self.refresh()  # the chip order and the caption line follow the export settings

    def _reorder(self, order: list[str]) -> None:
        if len(self._ids) == 1:
            image_id = self._ids[0]
            self._submit_edit("Reorder tags", lambda s: s.set_tag_order(image_id, order))

    def _vocabulary_ready(self, available: bool) -> None:
        self.vocabulary_note.setVisible(not available)

    def _show_error(self, error: JobError) -> None:
        self.status.setText(error.message)
        self.status.show()

    # --- edits ---------------------------------------------------------------------------------------

    def _submit_edit(
        self, title: str, fn: Callable[[EditService], EditResult], *, finished: Callable[[], None] | None = None
    ) -> None:
        """Run an edit on the write pool, push it on the undo stack, broadcast what it changed; `finished` is
        called first when it lands (or fails)."""
        service = self.service
        if service is None:
            if finished is not None:
                finished()
            return

        def failed(error: JobError) -> None:
            if finished is not None:
                finished()
            self._edit_failed(error)

        def done(result: EditResult) -> None:
            if finished is not None:
                finished()
            if result.changed and service is self.service:
                self.undo_stack.push(EditUndoCommand(self.jobs, service, result, self._applied))
                self._applied(result)

        self.jobs.submit(title, lambda _ctx: fn(service), on_result=done, on_error=failed, pool="write")

    def _edit_failed(self, error: JobError) -> None:
        self.chips.drop_pending()
        self._show_error(error)

    def _applied(self, result: EditResult) -> None:
        """An edit, undo or redo landed: tell the window and reload what is shown if it changed."""
        self.status.hide()
        self._broadcast(result.to_changes())

    def _broadcast(self, changes: Changes) -> None:
        """Tell every view (through the session, which calls back `_changed`), or reload here when standalone."""
        if changes.is_empty():
            return
        if self.session is not None:
            self.session.notify(changes)
        else:
            self.images_changed.emit(sorted(changes.image_ids))
            self.refresh(sorted(changes.image_ids))

    def _edit_tags(self, action: str, tags: list[str]) -> None:
        ids = list(self._ids)
        if not ids or not tags:
            return
        if action == "add":
            if len(ids) == 1 and self.pages.currentIndex() == PAGE_SINGLE:
                self.chips.add_pending([normalize_tag(tag) for tag in tags])  # the chip shows at once
            self._submit_edit("Add tags", lambda s: s.add_tags(ids, tags))
        else:
            self._submit_edit("Remove tags", lambda s: s.remove_tags(ids, tags))

    def _rename(self, old: str, new: str) -> None:
        ids = list(self._ids)
        if ids:
            self._submit_edit("Rename tag", lambda s: s.rename_tag(ids, old, new))

    def _save_caption(self, text: str) -> None:
        if len(self._ids) == 1:
            image_id = self._ids[0]
            self._submit_edit("Save caption", lambda s: s.set_caption(image_id, text))

    def _save_captions(self, texts: list[str]) -> None:
        if len(self._ids) == 1:
            image_id = self._ids[0]
            self._submit_edit(
                "Save captions", lambda s: s.set_captions(image_id, texts), finished=self.view.captions.saved
            )
        else:
            self.view.captions.saved()

    def _set_rating(self, selected: Sequence[int], label: str | None) -> None:
        ids = list(selected)
        if ids:
            self._submit_edit("Set rating", lambda s: s.set_rating(ids, label))

    def _set_score(self, selected: Sequence[int], value: float | None) -> None:
        ids = list(selected)
        if ids:
            self._submit_edit("Set score", lambda s: s.set_score(ids, value))

    # --- the review loop (keyboard path, grid, tags panel) ----------------------------------------------

    def set_preview_enabled(self, enabled: bool) -> None:
        """Decode the preview or not (the viewer shows the same image); turning it back on loads it."""
        if enabled == self.preview_enabled:
            return
        self.preview_enabled = enabled
        if not enabled:
            self.preview.set_message("Shown in the viewer")
        elif len(self._ids) == 1 and self.details is not None:
            path = self.details.path
            self._read(
                "Decode preview",
                lambda: decode_preview(path),
                self.preview.set_image,
                lambda error: self.preview.set_message(error.message),
            )

    def focus_tag_input(self) -> None:
        """Put the cursor in the tag field of the page shown (single image or batch)."""
        field = self.batch.add_input if self.pages.currentIndex() == PAGE_BATCH else self.tag_input
        field.setFocus(Qt.FocusReason.ShortcutFocusReason)
        field.selectAll()

    def commit_pending(self) -> None:
        """Save what is typed but not yet saved (tags in the tag field, the caption) before moving on."""
        if self.pages.currentIndex() == PAGE_SINGLE:
            if self.tag_input.text().strip():
                self.view.add_from_input()
            self.view.captions.flush()

    def set_excluded(self, image_ids: Sequence[int], excluded: bool) -> None:
        """Exclude images from export (or include them again), undoable from the Edit menu."""
        ids = list(image_ids)
        if ids:
            title = "Exclude from export" if excluded else "Include in export"
            self._submit_edit(title, lambda s: s.set_excluded(ids, excluded))

    def rename_everywhere(self, old: str, new: str) -> None:
        """Rename or merge a tag across the whole project (one undo step)."""
        self._submit_edit("Rename tag everywhere", lambda s: s.rename_everywhere(old, new))

    def delete_everywhere(self, tag: str) -> None:
        """Delete a tag from every image of the project (one undo step)."""
        self._submit_edit("Delete tag everywhere", lambda s: s.delete_everywhere(tag))
