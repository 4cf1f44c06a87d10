"""Near-duplicate review: see a group side by side, keep one, exclude the others from export.

Groups come from `EditService.near_duplicate_groups` (pending pHash and semantic embedding links, connected).
Thumbnails are read from the project's thumbnail cache on a worker, falling back to decoding the original.
"Keep" preselects the largest image (then the biggest file, then the most tags). Resolving and "not duplicates"
are undoable edits run on the write pool; `changed(Changes)` says what each one changed (the details panel
broadcasts it).

Thread-safety: GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QImage, QKeySequence, QPixmap, QShortcut, QUndoStack
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QRadioButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lorairo.gui.widgets.details.image_view import human_size
from lorairo.gui.widgets.details.preview import decode_preview
from lorairo.gui.widgets.details.undo import EditUndoCommand
from lorairo.gui.workers import JobError, JobManager
from lorairo.services.edit_service import EditResult, EditService, GroupMember, NearDuplicateGroup
from lorairo.services.project_service import Project
from lorairo.storage.layout import image_path, thumbnail_path

CARD_IMAGE_SIDE = 240


def default_keep(group: NearDuplicateGroup) -> int:
    """The member to keep unless the user says otherwise: one not excluded yet (a reviewed group shows its
    earlier choice), then most pixels, most tags (the annotation work worth keeping), the biggest file."""
    best = max(group.members, key=lambda m: (not m.excluded, m.width * m.height, m.tag_count, m.file_size, -m.image_id))
    return best.image_id


class MemberCard(QFrame):
    """One image of the group: thumbnail, facts, and a Keep radio button."""

    def __init__(self, member: GroupMember, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.member = member
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setFixedWidth(CARD_IMAGE_SIDE + 24)
        layout = QVBoxLayout(self)
        self.image = QLabel("Loading…", self)
        self.image.setFixedSize(QSize(CARD_IMAGE_SIDE, CARD_IMAGE_SIDE))
        self.image.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.image.setStyleSheet("background: palette(dark); color: palette(bright-text);")
        layout.addWidget(self.image)
        self.keep = QRadioButton("Keep this one", self)
        layout.addWidget(self.keep)
        name = QLabel(f"<b>{member.file_name}</b>", self)
        name.setWordWrap(True)
        name.setMaximumWidth(CARD_IMAGE_SIDE)
        name.setToolTip(member.file_path)
        layout.addWidget(name)
        self.facts = QLabel(self)
        self.facts.setWordWrap(True)
        layout.addWidget(self.facts)
        self.badge = QLabel("Excluded from export", self)
        self.badge.setStyleSheet("color: white; background: #c0392b; border-radius: 4px; padding: 1px 6px;")
        self.badge.setVisible(member.excluded)
        layout.addWidget(self.badge)
        layout.addStretch(1)

    def set_facts(self, distance: int | None, semantic: bool = False) -> None:
        m = self.member
        if distance is None:
            near = ""
        elif semantic:  # an embedding link: distance is (1 - cosine) x 1000
            near = f"<br>looks alike (embedding cosine {1 - distance / 1000:.3f}) to the kept image"
        else:
            near = f"<br>pHash distance {distance} to the kept image"
        self.facts.setText(f"{m.width} × {m.height} · {human_size(m.file_size)}<br>{m.tag_count} tags{near}")

    def set_image(self, image: QImage) -> None:
        pixmap = QPixmap.fromImage(image).scaled(
            self.image.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self.image.setPixmap(pixmap)


class NearDuplicateDialog(QDialog):
    """Review near-duplicate groups of the open project."""

    changed = Signal(object)  # Changes of each resolve / dismiss / undo / redo
    compare_requested = Signal(int, int)  # two image ids for the main window's side-by-side viewer

    def __init__(
        self,
        project: Project,
        parent: QWidget | None = None,
        *,
        jobs: JobManager | None = None,
        undo_stack: QUndoStack | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Near-duplicates — {project.name}")
        self.project = project
        self.jobs = jobs if jobs is not None else JobManager(self)
        self.undo_stack = undo_stack if undo_stack is not None else QUndoStack(self)
        self.service = EditService(project)
        self.groups: list[NearDuplicateGroup] = []
        self.cards: list[MemberCard] = []
        self.loaded = False
        self._keep_group = QButtonGroup(self)
        self._keep_group.idToggled.connect(self._keep_changed)
        cards = self.cards  # the same list for the dialog's life: cleared when it is destroyed, so thumbnails
        self.destroyed.connect(lambda *_: cards.clear())  # that arrive later find no card to paint into
        self._build()
        self.resize(1140, 600)
        self.reload()

    def _build(self) -> None:
        layout = QVBoxLayout(self)
        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        left = QWidget(splitter)
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.group_list = QListWidget(left)
        self.group_list.currentRowChanged.connect(self._show_group)
        self.show_reviewed = QCheckBox("Show reviewed groups", left)
        self.show_reviewed.toggled.connect(lambda _on: self.reload())
        left_layout.addWidget(self.group_list)
        left_layout.addWidget(self.show_reviewed)
        splitter.addWidget(left)

        right = QWidget(splitter)
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.header = QLabel(right)
        self.header.setWordWrap(True)
        right_layout.addWidget(self.header)
        self.cards_scroll = QScrollArea(right)
        self.cards_scroll.setWidgetResizable(True)
        self.cards_host = QWidget(self.cards_scroll)
        self.cards_layout = QHBoxLayout(self.cards_host)
        self.cards_layout.addStretch(1)
        self.cards_scroll.setWidget(self.cards_host)
        right_layout.addWidget(self.cards_scroll, 1)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 4)
        splitter.setSizes([240, 860])
        layout.addWidget(splitter, 1)

        buttons = QHBoxLayout()
        self.status = QLabel(self)
        self.undo_button = QPushButton("Undo", self)
        self.undo_button.clicked.connect(self.undo_stack.undo)
        self.undo_stack.canUndoChanged.connect(self.undo_button.setEnabled)
        self.undo_button.setEnabled(self.undo_stack.canUndo())
        self.dismiss_button = QPushButton("Not duplicates (keep all)", self)
        self.dismiss_button.clicked.connect(self.dismiss_current)
        self.resolve_button = QPushButton("Keep selected, exclude others", self)
        self.resolve_button.setToolTip("Exclude every other image of this group from export (Undo: Ctrl+Z)")
        self.resolve_button.setDefault(True)
        self.resolve_button.clicked.connect(self.resolve_current)
        self.compare_button = QPushButton("Compare large…", self)
        self.compare_button.setToolTip("The kept image and the next one side by side in the main window's viewer")
        self.compare_button.clicked.connect(self.compare_current)
        close = QPushButton("Close", self)
        close.clicked.connect(self.accept)
        buttons.addWidget(self.status, 1)
        for button in (self.undo_button, self.compare_button, self.dismiss_button, self.resolve_button, close):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        QShortcut(QKeySequence.StandardKey.Undo, self, self.undo_stack.undo)
        QShortcut(QKeySequence.StandardKey.Redo, self, self.undo_stack.redo)

    # --- loading -------------------------------------------------------------------------------------

    def reload(self) -> None:
        """Fetch the groups again (after an edit, undo or the reviewed toggle)."""
        service, include = self.service, self.show_reviewed.isChecked()
        self.jobs.submit(
            "Find near-duplicate groups",
            lambda _ctx: service.near_duplicate_groups(include_reviewed=include),
            on_result=self._groups_loaded,
            on_error=self._show_error,
            visible=False,
        )

    def _groups_loaded(self, groups: list[NearDuplicateGroup]) -> None:
        row = max(self.group_list.currentRow(), 0)
        self.groups = groups
        self.loaded = True
        self.group_list.blockSignals(True)
        self.group_list.clear()
        for number, group in enumerate(groups, start=1):
            phash = [d for a, b, d in group.links if not group.is_semantic(a, b)]
            excluded = sum(m.excluded for m in group.members)
            text = f"{number}. {len(group.members)} images"
            text += f", distance ≤ {max(phash)}" if phash else ""
            text += ", alike by embedding" if group.semantic else ""
            if excluded:
                text += f", {excluded} excluded"
            item = QListWidgetItem(text)
            item.setToolTip(", ".join(m.file_name for m in group.members))
            self.group_list.addItem(item)
        self.group_list.blockSignals(False)
        if groups:
            self.group_list.setCurrentRow(min(row, len(groups) - 1))
            self._show_group(self.group_list.currentRow())
        else:
            self._show_group(-1)

    def _show_group(self, row: int) -> None:
        for card in self.cards:
            self._keep_group.removeButton(card.keep)
            self.cards_layout.removeWidget(card)
            card.deleteLater()
        self.cards.clear()
        has_group = 0 <= row < len(self.groups)
        self.resolve_button.setEnabled(has_group)
        self.dismiss_button.setEnabled(has_group)
        if not has_group:
            self.header.setText("No near-duplicates left to review." if self.loaded else "Looking for near-duplicates…")
            return
        group = self.groups[row]
        self.header.setText(
            f"<b>{len(group.members)} near-identical images.</b> Choose the one to keep; the others are "
            "excluded from export (nothing is deleted)."
        )
        keep = default_keep(group)
        for index, member in enumerate(group.members):
            card = MemberCard(member, self.cards_host)
            self.cards_layout.insertWidget(index, card, 0, Qt.AlignmentFlag.AlignTop)
            self._keep_group.addButton(card.keep, member.image_id)
            self.cards.append(card)
            self._load_thumbnail(card)
        self._keep_group.button(keep).setChecked(True)
        self._keep_changed(keep, True)

    def _keep_changed(self, image_id: int, checked: bool) -> None:
        row = self.group_list.currentRow()
        if not checked or not 0 <= row < len(self.groups):
            return
        for card in self.cards:
            group = self.groups[row]
            distance = group.distance_to(image_id, card.member.image_id)
            card.set_facts(distance, group.is_semantic(image_id, card.member.image_id))
            card.setStyleSheet("MemberCard { border: 2px solid #2e86de; }" if card.member.image_id == image_id else "")

    def _load_thumbnail(self, card: MemberCard) -> None:
        member, project = card.member, self.project

        def load(_ctx: object) -> QImage:
            cached = thumbnail_path(project, member.hash_value)
            source = cached if cached.is_file() else image_path(project, member.file_path)
            return decode_preview(source, CARD_IMAGE_SIDE)

        def failed(error: JobError) -> None:
            if card in self.cards:
                card.image.setText(error.message)

        self.jobs.submit(
            "Load thumbnail",
            load,
            on_result=lambda image: card.set_image(image) if card in self.cards else None,
            on_error=failed,
            pool="thumbnails",
            visible=False,
        )

    # --- edits ---------------------------------------------------------------------------------------

    def keep_id(self) -> int | None:
        checked = self._keep_group.checkedId()
        return checked if checked != -1 else None

    def resolve_current(self) -> None:
        """Keep the chosen image of the shown group and exclude the others."""
        keep = self.keep_id()
        row = self.group_list.currentRow()
        if keep is None or not 0 <= row < len(self.groups):
            return
        others = [i for i in self.groups[row].image_ids if i != keep]
        service = self.service
        self._submit("Resolve near-duplicates", lambda: service.resolve_group(keep, others))

    def compare_current(self) -> tuple[int, int] | None:
        """Ask for the kept image and the first other one of the shown group side by side, large."""
        keep = self.keep_id()
        row = self.group_list.currentRow()
        if keep is None or not 0 <= row < len(self.groups):
            return None
        other = next((i for i in self.groups[row].image_ids if i != keep), None)
        if other is None:
            return None
        self.compare_requested.emit(keep, other)
        return keep, other

    def dismiss_current(self) -> None:
        """Mark the shown group reviewed without excluding anything."""
        row = self.group_list.currentRow()
        if not 0 <= row < len(self.groups):
            return
        ids, service = list(self.groups[row].image_ids), self.service
        self._submit("Dismiss near-duplicates", lambda: service.dismiss_group(ids))

    def _submit(self, title: str, fn: Callable[[], EditResult]) -> None:
        def done(result: EditResult) -> None:
            if result.changed:
                self.undo_stack.push(EditUndoCommand(self.jobs, self.service, result, self._applied))
                self._applied(result)

        self.jobs.submit(title, lambda _ctx: fn(), on_result=done, on_error=self._show_error, pool="write")

    def _applied(self, result: EditResult) -> None:
        self.status.setText(result.description)
        self.changed.emit(result.to_changes())
        self.reload()

    def _show_error(self, error: JobError) -> None:
        self.status.setText(f"<span style='color:#c0392b'>{error.message}</span>")
