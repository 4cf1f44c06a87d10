"""A checkable tree of annotation models grouped by kind, showing what each needs and where it would run.

Unavailable models are listed but disabled with the reason (needs download, needs extra, needs API key), so the
user sees what exists instead of guessing. GUI thread only; the model list is fetched by the panel's worker.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QTreeWidget, QTreeWidgetItem, QWidget

from lorairo.annotations.ai_annotator import AnnotatorModel

KIND_TITLES = {
    "tagger": "Taggers",
    "scorer": "Aesthetic scorers",
    "rating": "Rating / NSFW",
    "captioner": "Captioners",
    "embedding": "Image embeddings (find similar, text search)",
    "cloud": "Cloud vision models",
}
NAME_ROLE = Qt.ItemDataRole.UserRole


def _needs(model: AnnotatorModel) -> list[tuple[str, str]]:
    """(short status, how to fix it) for each thing a model lacks."""
    found = []
    for need in model.needs:
        if need.startswith("files"):
            found.append(("needs download", f"Download it once: lorairo models download {model.name}"))
        elif need.startswith("extra"):
            extra = need.split(":", 1)[1].split("(")[0].strip()
            found.append((f"needs extra: {extra}", f"Install the optional extra: uv sync --extra {extra}"))
        elif need.lower().startswith("api key"):
            provider = need.split(":", 1)[1].strip()
            found.append((f"needs API key: {provider}", "Add the key in Settings > API keys"))
        else:
            found.append((need, need))
    return found


def status_text(model: AnnotatorModel) -> str:
    """One short line: ready, or what is missing."""
    if model.available:
        return "ready"
    return "; ".join(short for short, _ in _needs(model)) or "unavailable"


def fix_text(model: AnnotatorModel) -> str:
    """How to make the model available (tooltip)."""
    return "\n".join(fix for _, fix in _needs(model)) or "ready"


class ModelPicker(QTreeWidget):
    """Models grouped by kind; `selection_changed(list[str])` when the checked set changes."""

    selection_changed = Signal(list)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setColumnCount(3)
        self.setHeaderLabels(["Model", "Device", "Status"])
        self.setRootIsDecorated(True)
        self.setUniformRowHeights(True)
        self.itemChanged.connect(self._item_changed)
        self._models: dict[str, AnnotatorModel] = {}

    def set_models(self, models: Sequence[AnnotatorModel], checked: Sequence[str] = ()) -> None:
        keep = set(self.checked_models()) | set(checked)
        self.blockSignals(True)
        try:
            self.clear()
            self._models = {m.name: m for m in models}
            for kind, title in KIND_TITLES.items():
                members = [m for m in models if m.kind == kind]
                if not members:
                    continue
                group = QTreeWidgetItem(self, [f"{title} ({sum(m.available for m in members)}/{len(members)} ready)"])
                group.setFlags(Qt.ItemFlag.ItemIsEnabled)
                for model in members:
                    item = QTreeWidgetItem(group, [model.name, model.device, status_text(model)])
                    item.setData(0, NAME_ROLE, model.name)
                    item.setToolTip(0, f"{model.name} ({model.framework}, {model.provider_name})")
                    item.setToolTip(2, fix_text(model))
                    if model.available:
                        item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                        state = Qt.CheckState.Checked if model.name in keep else Qt.CheckState.Unchecked
                        item.setCheckState(0, state)
                    else:
                        item.setFlags(Qt.ItemFlag.ItemIsUserCheckable)  # shown, not enabled
                        item.setCheckState(0, Qt.CheckState.Unchecked)
                group.setExpanded(True)
            for column in range(3):
                self.resizeColumnToContents(column)
        finally:
            self.blockSignals(False)
        self.selection_changed.emit(self.checked_models())

    def checked_models(self) -> list[str]:
        names = []
        for i in range(self.topLevelItemCount()):
            group = self.topLevelItem(i)
            if group is None:
                continue
            for j in range(group.childCount()):
                item = group.child(j)
                if item is None or not item.flags() & Qt.ItemFlag.ItemIsEnabled:
                    continue
                if item.checkState(0) == Qt.CheckState.Checked:
                    names.append(item.data(0, NAME_ROLE))
        return names

    def annotator(self, name: str) -> AnnotatorModel | None:  # not `model`: that is the view's item model
        return self._models.get(name)

    def missing_keys(self) -> list[str]:
        """Cloud models that would be available with an API key."""
        return [m.name for m in self._models.values() if any(n.lower().startswith("api key") for n in m.needs)]

    def _item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if column == 0 and item.data(0, NAME_ROLE):
            self.selection_changed.emit(self.checked_models())
