"""Projects in the window: the welcome page (empty state with recent projects), open and new-project dialogs.

Nothing here creates a project unless the user typed a name and pressed Create. Listing projects reads each
database's image count, so it runs on a worker. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from lorairo.exceptions import ProjectError
from lorairo.gui.workers import JobManager

if TYPE_CHECKING:
    from lorairo.services.project_service import ProjectInfo, ProjectService

NEW_PROJECT_DIALOG_WIDTH = 480
ProjectsGetter = Callable[[], "ProjectService"]  # the session's lazily built service


class ProjectList(QListWidget):
    """Projects with image counts, recent ones first. `chosen(name)` on double-click / Enter; `can_open(bool)`
    whenever whether a project is selected changes (no project yet, loading, a broken one)."""

    chosen = Signal(str)
    can_open = Signal(bool)

    def __init__(self, projects: ProjectsGetter, jobs: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.projects = projects
        self.jobs = jobs
        self.root = ""
        self.itemActivated.connect(self._activate)
        self.currentItemChanged.connect(lambda *_: self.can_open.emit(self.selected_name() is not None))
        self.setAccessibleName("Projects")

    def refresh(self) -> None:
        self.clear()
        self.addItem(QListWidgetItem("Loading projects…"))
        projects = self.projects

        def load(_ctx: object) -> tuple[list[ProjectInfo], list[str], str]:
            service = projects()
            return service.list_projects(), service.recent(), str(service.root)

        self.jobs.submit("List projects", load, on_result=self._show, visible=False)

    def _show(self, result: tuple[list[ProjectInfo], list[str], str]) -> None:
        infos, recent, self.root = result
        rank = {name: i for i, name in enumerate(recent)}
        infos = sorted(infos, key=lambda info: (rank.get(info.name, len(rank)), -info.last_modified.timestamp()))
        self.clear()
        if not infos:
            placeholder = QListWidgetItem(f"No projects yet in {self.root}")
            placeholder.setFlags(Qt.ItemFlag.NoItemFlags)
            self.addItem(placeholder)
            self.can_open.emit(False)
            return
        for info in infos:
            detail = info.error or f"{info.image_count:,} images · modified {info.last_modified:%Y-%m-%d %H:%M}"
            marker = "  (recent)" if info.name in rank else ""
            item = QListWidgetItem(f"{info.name}{marker}\n{detail}")
            item.setData(Qt.ItemDataRole.UserRole, info.name)
            item.setToolTip(str(info.path))
            if info.error:
                item.setFlags(Qt.ItemFlag.NoItemFlags)
            self.addItem(item)
        self.setCurrentRow(0)
        self.can_open.emit(self.selected_name() is not None)

    def selected_name(self) -> str | None:
        item = self.currentItem()
        name = item.data(Qt.ItemDataRole.UserRole) if item else None
        return str(name) if name else None

    def _activate(self, item: QListWidgetItem) -> None:
        name = item.data(Qt.ItemDataRole.UserRole)
        if name:
            self.chosen.emit(str(name))


class WelcomePage(QWidget):
    """Shown while no project is open: what LoRAIro needs first, and the ways to get there."""

    open_requested = Signal(str)
    new_requested = Signal()

    def __init__(self, projects: ProjectsGetter, jobs: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        title = QLabel("<h1>LoRAIro</h1>", self)
        intro = QLabel(
            "Build training-ready image datasets: import, tag, caption, review and export.<br>"
            "Open a project to start, or create a new one.",
            self,
        )
        intro.setWordWrap(True)
        self.list = ProjectList(projects, jobs, self)
        self.list.chosen.connect(self.open_requested)
        self.list.setMinimumHeight(220)
        new_button = QPushButton("New project…", self)
        new_button.clicked.connect(self.new_requested)
        self.open_button = open_button = QPushButton("Open selected", self)
        open_button.setDefault(True)
        open_button.clicked.connect(self._open_selected)
        open_button.setEnabled(False)  # until the list shows a project to open
        self.list.can_open.connect(self._can_open)
        buttons = QHBoxLayout()
        buttons.addWidget(new_button)
        buttons.addStretch(1)
        buttons.addWidget(open_button)
        column = QVBoxLayout()
        column.addStretch(1)
        column.addWidget(title)
        column.addWidget(intro)
        column.addSpacing(12)
        column.addWidget(QLabel("<b>Projects</b> (double-click to open)", self))
        column.addWidget(self.list)
        column.addLayout(buttons)
        column.addStretch(2)
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        outer.addLayout(column, 2)
        outer.addStretch(1)

    def refresh(self) -> None:
        self.list.refresh()

    def _can_open(self, possible: bool) -> None:
        self.open_button.setEnabled(possible)
        self.open_button.setToolTip("" if possible else "No project to open yet: create one with New project…")

    def _open_selected(self) -> None:
        name = self.list.selected_name()
        if name:
            self.open_requested.emit(name)


class OpenProjectDialog(QDialog):
    """Pick a project to open."""

    def __init__(self, projects: ProjectsGetter, jobs: JobManager, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open project")
        self.resize(480, 360)
        self.list = ProjectList(projects, jobs, self)
        self.list.chosen.connect(lambda _n: self.accept())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Open | QDialogButtonBox.StandardButton.Cancel)
        open_button = buttons.button(QDialogButtonBox.StandardButton.Open)
        if open_button is not None:
            open_button.setEnabled(False)
            self.list.can_open.connect(open_button.setEnabled)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.list)
        layout.addWidget(buttons)
        self.list.refresh()

    def chosen_name(self) -> str | None:
        return self.list.selected_name()


class NewProjectDialog(QDialog):
    """Ask for a new project's name; Create stays disabled while the name is invalid or taken."""

    def __init__(self, projects: ProjectService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.projects = projects
        self.setWindowTitle("New project")
        self.setMinimumWidth(NEW_PROJECT_DIALOG_WIDTH)
        self.name_edit = QLineEdit(self)
        self.name_edit.setPlaceholderText("e.g. my-character-lora")
        self.error = QLabel("", self)
        self.error.setStyleSheet("color: #d33;")
        self.error.setWordWrap(True)
        self.error.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        # Room for two lines from the start: the dialog does not jump as the user types, and a message that
        # appears is never cut (a wrapped label's height is not part of the layout's minimum size).
        self.error.setMinimumHeight(2 * self.error.fontMetrics().lineSpacing())
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel, self)
        self.create_button = self.buttons.addButton("Create", QDialogButtonBox.ButtonRole.AcceptRole)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        where = QLabel(f"Project name (created in {projects.root}):", self)
        where.setWordWrap(True)
        layout.addWidget(where)
        layout.addWidget(self.name_edit)
        layout.addWidget(self.error)
        layout.addWidget(self.buttons)
        self.name_edit.textChanged.connect(self._validate)
        self._validate("")

    def _validate(self, text: str) -> None:
        from lorairo.services.project_service import validate_project_name

        message = ""
        if text:
            try:
                name = validate_project_name(text)
                if self.projects.project_path(name).exists():
                    message = f"a project named '{name}' already exists"
            except ProjectError as exc:
                message = str(exc)
        self.error.setText(message)
        self.create_button.setEnabled(bool(text) and not message)
        needed = self.error.heightForWidth(max(self.error.width(), self.minimumWidth() - 40))
        if needed > self.error.minimumHeight():  # longer than the reserved lines (a very long name quoted)
            self.error.setMinimumHeight(needed)

    def project_name(self) -> str:
        from lorairo.services.project_service import validate_project_name

        return validate_project_name(self.name_edit.text())
