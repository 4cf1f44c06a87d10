"""Settings over ConfigurationService: every change is validated and saved at once (`update_setting`).

Each field applies when editing finishes; a value ConfigurationService refuses shows its ConfigurationError
text under the field and nothing is saved. Ranges and choices come from the settings schema
(`ConfigurationService.setting`), the same rules `lorairo config set` and the loader apply. A key overridden
by an environment variable is shown read-only
with the variable's name. API keys are masked with a show/hide toggle. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from lorairo.exceptions import ConfigurationError
from lorairo.services.configuration_service import ConfigurationService


@dataclass(frozen=True)
class Field:
    key: str
    label: str
    kind: str  # secret / dir / file / choice / text / list / int / float / bool
    help: str = ""


PAGES: dict[str, tuple[Field, ...]] = {
    "API keys": (
        Field("api.openai_key", "OpenAI", "secret"),
        Field("api.claude_key", "Anthropic", "secret"),
        Field("api.google_key", "Google", "secret"),
        Field("api.openrouter_key", "OpenRouter", "secret"),
        Field("huggingface.token", "Hugging Face token", "secret"),
        Field("huggingface.hf_username", "Hugging Face user", "text"),
        Field("huggingface.repo_name", "Dataset repository", "text"),
    ),
    "Folders": (
        Field("directories.database_dir", "Projects folder", "dir", help="empty = the platform data folder"),
        Field("directories.export_dir", "Export folder", "dir"),
        Field("directories.batch_results_dir", "Batch results folder", "dir"),
        Field("app.open_last_project", "Reopen the last project at start", "bool"),
    ),
    "Models": (
        Field("annotation.default_models", "Default models", "list", help="comma-separated model names"),
        Field("annotation.general_threshold", "General tag threshold", "float"),
        Field("annotation.character_threshold", "Character tag threshold", "float"),
        Field("annotation.use_mcut", "MCut thresholding", "bool"),
        Field("annotation.max_tags", "Max tags (0 = no limit)", "int"),
        Field("annotation.upload_max_side", "Cloud upload longest side", "int"),
        Field("annotation.engine", "Run local models on", "choice", help="ray needs `uv sync --extra ray`"),
        Field("annotation.ray_address", "Ray cluster address", "text", help="empty = this machine; auto; HOST:6379"),
        Field("annotation.ray_replicas", "Ray model replicas (0 = auto)", "int"),
        Field("annotation.ray_gpus_per_replica", "Ray GPUs per replica", "float"),
        Field("annotation.ray_max_retries", "Ray retries before a batch fails", "int"),
    ),
    "Import": (
        Field("image_processing.copy_to_project", "Copy images into the project", "bool"),
        Field("image_processing.read_sidecars", "Read .txt / .caption sidecars", "bool"),
        Field("image_processing.near_duplicate_threshold", "Near-duplicate distance", "int"),
        Field("image_processing.thumbnail_size", "Thumbnail size (px)", "int"),
        Field("resources.max_workers", "Worker processes (0 = cores)", "int"),
        Field("resources.batch_size", "Batch size", "int"),
    ),
    "Quality checks": (
        Field("quality.compute_at_import", "Measure during import", "bool"),
        Field("quality.blurry_sharpness", "Blurry: sharpness below", "float"),
        Field("quality.dark_mean", "Dark: mean brightness below", "float"),
        Field("quality.bright_mean", "Bright: mean brightness above", "float"),
        Field("quality.clipped_fraction", "Dark / bright: clipped share above", "float"),
        Field("quality.low_info_entropy", "Low information: entropy (bits) below", "float"),
        Field("quality.greyscale_saturation", "Greyscale: colour spread below", "float"),
        Field("quality.low_jpeg_quality", "Low JPEG: estimated quality below", "float"),
        Field("quality.letterbox_fraction", "Letterbox: border bands at least", "float"),
        Field("quality.extreme_aspect", "Extreme aspect: long / short above", "float"),
    ),
    "Logging": (
        Field("log.level", "Log level", "choice"),
        Field("log.file_path", "Log file", "file", help="empty = the platform log folder"),
    ),
}


class SettingsDialog(QDialog):
    """Tabs of settings; `errors[key]` holds the label under each field."""

    def __init__(self, config: ConfigurationService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.config = config
        self.setWindowTitle("Settings")
        self.resize(640, 460)
        self.editors: dict[str, QWidget] = {}
        self.errors: dict[str, QLabel] = {}
        self.tabs = QTabWidget(self)
        for title, fields in PAGES.items():
            page = QWidget(self)
            form = QFormLayout(page)
            for spec in fields:
                form.addRow(spec.label, self._row(spec))
            self.tabs.addTab(page, title)
        note = QLabel(f"Saved at once to {config.config_path}", self)
        note.setWordWrap(True)
        note.setEnabled(False)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(self.tabs)
        layout.addWidget(note)
        layout.addWidget(buttons)

    # --- building -------------------------------------------------------------------------------------------

    def _row(self, spec: Field) -> QWidget:
        value = self.config.get(spec.key)
        editor, commit = self._editor(spec, value)
        self.editors[spec.key] = editor
        error = QLabel("", self)
        error.setStyleSheet("color: #d33;")
        error.setWordWrap(True)
        self.errors[spec.key] = error
        hint = spec.help
        if var := self.config.env_override(spec.key):
            editor.setEnabled(False)
            hint = f"set by the environment variable {var}"
        container = QWidget(self)
        column = QVBoxLayout(container)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(1)
        if isinstance(commit, QHBoxLayout):
            column.addLayout(commit)
        else:
            column.addWidget(editor)
        if hint:
            label = QLabel(hint, self)
            label.setEnabled(False)
            column.addWidget(label)
        column.addWidget(error)
        error.hide()
        return container

    def _editor(self, spec: Field, value: Any) -> tuple[QWidget, QHBoxLayout | None]:
        apply: Callable[[Any], object] = lambda v: self.apply(spec.key, v)  # noqa: E731
        setting = self.config.setting(spec.key)
        low, high = setting.bounds()
        if spec.kind in ("secret", "text", "list", "dir", "file"):
            edit = QLineEdit(", ".join(value) if spec.kind == "list" else str(value), self)
            if spec.kind == "list":
                edit.editingFinished.connect(lambda: apply([p.strip() for p in edit.text().split(",") if p.strip()]))
            else:
                edit.editingFinished.connect(lambda: apply(edit.text().strip()))
            if spec.kind not in ("secret", "dir", "file"):
                return edit, None
            row = QHBoxLayout()
            row.addWidget(edit, 1)
            button = QToolButton(self)
            if spec.kind == "secret":
                edit.setEchoMode(QLineEdit.EchoMode.Password)
                edit.setPlaceholderText("not set")
                button.setText("Show")
                button.setCheckable(True)

                def reveal(on: bool, edit: QLineEdit = edit, button: QToolButton = button) -> None:
                    edit.setEchoMode(QLineEdit.EchoMode.Normal if on else QLineEdit.EchoMode.Password)
                    button.setText("Hide" if on else "Show")

                button.toggled.connect(reveal)
            else:
                edit.setPlaceholderText("default")
                button.setText("Browse…")
                button.clicked.connect(lambda: self._pick(spec, edit))
            row.addWidget(button)
            return edit, row
        if spec.kind == "choice":
            combo = QComboBox(self)
            combo.addItems(list(setting.choices))
            combo.setCurrentText(str(value))
            combo.currentTextChanged.connect(apply)
            return combo, None
        if spec.kind == "bool":
            box = QCheckBox(self)
            box.setChecked(bool(value))
            box.toggled.connect(apply)
            return box, None
        if spec.kind == "int":
            spin = QSpinBox(self)
            int_max = 2**31 - 1  # QSpinBox holds a C int
            spin.setRange(
                int(low) if low is not None else -int_max, int(min(high, int_max)) if high is not None else int_max
            )
            spin.setValue(int(value))
            spin.editingFinished.connect(lambda: apply(spin.value()))
            return spin, None
        dspin = QDoubleSpinBox(self)
        dspin.setRange(low if low is not None else -1e12, high if high is not None else 1e12)
        dspin.setDecimals(2)
        dspin.setSingleStep(0.05)
        dspin.setValue(float(value))
        dspin.editingFinished.connect(lambda: apply(dspin.value()))
        return dspin, None

    def _pick(self, spec: Field, edit: QLineEdit) -> None:
        start = edit.text() or str(Path.home())
        if spec.kind == "dir":
            chosen = QFileDialog.getExistingDirectory(self, spec.label, start)
        else:
            chosen, _ = QFileDialog.getSaveFileName(self, spec.label, start)
        if chosen:
            edit.setText(chosen)
            self.apply(spec.key, chosen)

    # --- applying -------------------------------------------------------------------------------------------

    def apply(self, key: str, value: Any) -> bool:
        """Save one setting now; show ConfigurationService's error under the field when it is refused."""
        error = self.errors[key]
        if value == self.config.get(key):
            error.hide()
            return True
        try:
            self.config.update_setting(key, None, value)
        except ConfigurationError as exc:
            error.setText(str(exc))
            error.show()
            return False
        error.hide()
        return True
