"""The filter bar: builds an `ImageFilter` from its widgets, shows the result count, keeps favourites.

Tags are typed comma-separated (`long hair, cat|dog, -blurry`: AND, OR, NOT; `*` wildcards) with
autocomplete. A favourite stores the filter's text form (the same syntax `lorairo query --filter` takes) in
QSettings. Loading a filter pushes it into the widgets with signals blocked (no feedback loop). GUI thread only.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from functools import partial
from typing import Any

from PySide6.QtCore import QDate, QObject, QSettings, QSignalBlocker, Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDateEdit,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleRangeSlider

from lorairo.gui.widgets.tag_completer import Suggest, TagLineEdit
from lorairo.gui.workers import JobManager
from lorairo.services.image_query_service import (
    ASPECTS,
    FilterSyntaxError,
    ImageFilter,
    format_filter,
    normalize_query_tag,
    parse_filter,
)

SCORE_RANGE = (0.0, 10.0)
RATING_CHOICES = ("", "general", "sensitive", "questionable", "explicit", "sfw", "nsfw")
FAVOURITES_KEY = "filters/favourites"
_FLAGS = (
    ("untagged", "Untagged"),
    ("uncaptioned", "Uncaptioned"),
    ("duplicates", "Duplicates"),
    ("near_duplicates", "Near-duplicates"),
    ("has_failures", "Annotation failures"),
)

# The menu buttons carry their arrow in the text ("Show only ▾", which also shows a count); the style's own
# indicator would draw a second arrow squeezed in the corner.
ONE_MENU_ARROW = "QToolButton::menu-indicator { image: none; width: 0px; }"


def parse_tag_field(text: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...], tuple[str, ...]]:
    """`long hair, cat|dog, -blurry` -> (all, any-groups, none)."""
    tags_all: list[str] = []
    tags_any: list[tuple[str, ...]] = []
    tags_none: list[str] = []
    for term in (t.strip() for t in text.split(",")):
        if not term:
            continue
        if term.startswith("-"):
            tags_none.extend(normalize_query_tag(t) for t in term[1:].split("|") if t.strip())
            continue
        group = tuple(normalize_query_tag(t) for t in term.split("|") if t.strip())
        if len(group) == 1:
            tags_all.append(group[0])
        elif group:
            tags_any.append(group)
    return tuple(tags_all), tuple(tags_any), tuple(tags_none)


def format_tag_field(f: ImageFilter) -> str:
    parts = list(f.tags_all) + ["|".join(g) for g in f.tags_any] + [f"-{t}" for t in f.tags_none]
    return ", ".join(parts)


class FilterBar(QWidget):
    """Emits `filter_changed(ImageFilter)` (debounced) whenever the user changes a filter widget."""

    filter_changed = Signal(object)

    def __init__(self, jobs: JobManager, suggest: Suggest | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._hidden = ImageFilter()  # parts of a loaded favourite that have no widget (kept as they were)
        self._timer = QTimer(self, singleShot=True, interval=250)
        self._timer.timeout.connect(self._emit)

        self.tags = TagLineEdit(jobs, suggest, self)
        self.tags.setPlaceholderText("Tags: long hair, cat|dog, -blurry")
        self.tags.setClearButtonEnabled(True)
        self.tags.setToolTip("Comma-separated tags. a|b = any of; -tag = without; * = wildcard (Ctrl+F)")
        self.caption = QLineEdit(self)
        self.caption.setPlaceholderText("Caption contains…")
        self.caption.setClearButtonEnabled(True)
        self.score = QLabeledDoubleRangeSlider(Qt.Orientation.Horizontal, self)
        self.score.setRange(*SCORE_RANGE)  # type: ignore[arg-type]  # superqt's stubs say int; it takes floats
        self.score.setValue(SCORE_RANGE)
        self.score.setSingleStep(0.5)  # type: ignore[arg-type]  # as above
        self.score.setDecimals(1)
        self.score.setMinimumWidth(200)
        # Editable value boxes at the ends, no floating labels over the handles (keeps the bar one row high).
        self.score.setHandleLabelPosition(QLabeledDoubleRangeSlider.LabelPosition.NoLabel)
        self.score.setEdgeLabelMode(QLabeledDoubleRangeSlider.EdgeLabelMode.LabelIsValue)
        self.score.setToolTip("Score range (the full range = no score filter)")
        self.rating = QComboBox(self)
        for value in RATING_CHOICES:
            self.rating.addItem(value.capitalize() if value else "Any rating", value)
        self.count_label = QLabel("", self)
        self.count_label.setMinimumWidth(110)
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.error_label = QLabel("", self)
        self.error_label.setStyleSheet("color: #d33;")
        self.error_label.hide()
        self.favourites = QToolButton(self)
        self.favourites.setText("★ Favourites ▾")
        self.favourites.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.favourites.setStyleSheet(ONE_MENU_ARROW)
        self.favourites.setMenu(QMenu(self.favourites))
        self.favourites.menu().aboutToShow.connect(self._fill_favourites)
        self.clear_button = QToolButton(self)
        self.clear_button.setText("Clear")
        self.clear_button.clicked.connect(self.clear)

        self.min_side = QSpinBox(self)
        self.min_side.setRange(0, 16384)
        self.min_side.setSingleStep(64)
        self.min_side.setSpecialValueText("any")
        self.min_side.setSuffix(" px")
        self.min_side.setToolTip("Shorter side at least")
        self.aspect = QComboBox(self)
        self.aspect.addItem("Any aspect", "")
        for name in ASPECTS:
            self.aspect.addItem(name.capitalize(), name)
        self.since_check = QCheckBox("Imported since", self)
        self.since = QDateEdit(QDate.currentDate(), self)
        self.since.setCalendarPopup(True)
        self.since.setDisplayFormat("yyyy-MM-dd")
        self.since.setEnabled(False)
        self.since_check.toggled.connect(self.since.setEnabled)
        # The yes/no filters live in a menu: a row of check boxes would make the window 1,400 px wide at least.
        self.more = QToolButton(self)
        self.more.setText("Show only ▾")
        self.more.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.more.setStyleSheet(ONE_MENU_ARROW)
        self.more.setMenu(QMenu(self.more))
        self.flags: dict[str, QAction] = {}
        for name, label in _FLAGS:
            action = self.more.menu().addAction(label)
            action.setCheckable(True)
            self.flags[name] = action

        row1 = QHBoxLayout()
        row1.addWidget(self.tags, 3)
        row1.addWidget(self.caption, 2)
        row1.addWidget(QLabel("Score", self))
        row1.addWidget(self.score, 2)
        row1.addWidget(self.rating)
        row1.addWidget(self.favourites)
        row1.addWidget(self.clear_button)
        row1.addWidget(self.count_label)
        row2 = QHBoxLayout()
        row2.addWidget(QLabel("Min side", self))
        row2.addWidget(self.min_side)
        row2.addWidget(self.aspect)
        row2.addWidget(self.since_check)
        row2.addWidget(self.since)
        row2.addWidget(self.more)
        row2.addStretch(1)
        row2.addWidget(self.error_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 2)
        layout.setSpacing(2)
        layout.addLayout(row1)
        layout.addLayout(row2)

        for edit in (self.tags, self.caption):
            edit.textChanged.connect(self._changed)
        self.score.valueChanged.connect(self._changed)
        for combo in (self.rating, self.aspect):
            combo.currentIndexChanged.connect(self._changed)
        self.min_side.valueChanged.connect(self._changed)
        self.since_check.toggled.connect(self._changed)
        self.since.dateChanged.connect(self._changed)
        for action in self.flags.values():
            action.toggled.connect(self._changed)
            action.toggled.connect(self._update_more_text)

    # --- reading / writing the filter ---------------------------------------------------------------------

    def current_filter(self) -> ImageFilter:
        tags_all, tags_any, tags_none = parse_tag_field(self.tags.text())
        low, high = self.score.value()
        aspect = self.aspect.currentData()
        aspect_range = (
            ASPECTS.get(aspect, (None, None)) if aspect else (self._hidden.aspect_min, self._hidden.aspect_max)
        )
        rating = self.rating.currentData()
        flags: dict[str, Any] = {name: action.isChecked() for name, action in self.flags.items()}
        since = self.since.date()
        return replace(
            self._hidden,
            tags_all=tags_all,
            tags_any=tags_any,
            tags_none=tags_none,
            caption_text=self.caption.text().strip(),
            score_min=None if low <= SCORE_RANGE[0] else low,
            score_max=None if high >= SCORE_RANGE[1] else high,
            ratings=(rating,) if rating else (),
            min_side=self.min_side.value() or None,
            aspect_min=aspect_range[0],
            aspect_max=aspect_range[1],
            imported_from=date(since.year(), since.month(), since.day()) if self.since_check.isChecked() else None,
            **flags,
        )

    def set_filter(self, f: ImageFilter) -> None:
        """Show `f` in the widgets (signals blocked), then emit it once."""
        blockers = [QSignalBlocker(w) for w in self._widgets()]
        try:
            self.tags.setText(format_tag_field(f))
            self.caption.setText(f.caption_text)
            self.score.setValue(
                (
                    SCORE_RANGE[0] if f.score_min is None else f.score_min,
                    SCORE_RANGE[1] if f.score_max is None else f.score_max,
                )
            )
            self.rating.setCurrentIndex(max(0, self.rating.findData(f.ratings[0] if len(f.ratings) == 1 else "")))
            self.min_side.setValue(f.min_side or 0)
            named = next((n for n, r in ASPECTS.items() if r == (f.aspect_min, f.aspect_max)), "")
            self.aspect.setCurrentIndex(max(0, self.aspect.findData(named)))
            self.since_check.setChecked(f.imported_from is not None)
            self.since.setEnabled(f.imported_from is not None)
            if f.imported_from is not None:
                self.since.setDate(QDate(f.imported_from.year, f.imported_from.month, f.imported_from.day))
            for name, action in self.flags.items():
                action.setChecked(bool(getattr(f, name)))
        finally:
            del blockers
        self._update_more_text()
        # What the widgets cannot show stays in force (ratings lists, width/height, name, score name...).
        self._hidden = replace(
            ImageFilter(),
            name_text=f.name_text,
            score_name=f.score_name,
            ratings=f.ratings if len(f.ratings) > 1 else (),
            min_width=f.min_width,
            max_width=f.max_width,
            min_height=f.min_height,
            max_height=f.max_height,
            aspect_min=None if named else f.aspect_min,
            aspect_max=None if named else f.aspect_max,
            imported_to=f.imported_to,
            excluded=f.excluded,
        )
        self._emit()

    def set_filter_text(self, text: str) -> None:
        """Apply a filter in the text syntax; a syntax error is shown, not raised."""
        try:
            self.set_filter(parse_filter(text))
        except FilterSyntaxError as exc:
            self.show_error(str(exc))

    def clear(self) -> None:
        self.set_filter(ImageFilter())

    def _widgets(self) -> list[QObject]:
        return [self.tags, self.caption, self.score, self.rating, self.min_side, self.aspect, self.since_check,
                self.since, *self.flags.values()]  # fmt: skip

    def _update_more_text(self, *_args: object) -> None:
        count = sum(action.isChecked() for action in self.flags.values())
        self.more.setText(f"Show only ({count}) ▾" if count else "Show only ▾")

    def _changed(self, *_args: object) -> None:
        self._timer.start()

    def _emit(self) -> None:
        self._timer.stop()
        self.show_error("")
        self.filter_changed.emit(self.current_filter())

    def apply_now(self) -> None:
        """Emit the current filter without waiting for the debounce (Enter, tests)."""
        self._emit()

    # --- feedback -------------------------------------------------------------------------------------------

    def set_count(self, shown: int, total: int | None = None) -> None:
        text = f"{shown:,} images" if total is None or total == shown else f"{shown:,} of {total:,} images"
        self.count_label.setText(text)

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    # --- favourites -----------------------------------------------------------------------------------------

    def favourites_dict(self) -> dict[str, str]:
        raw = QSettings().value(FAVOURITES_KEY, "{}")
        try:
            data = json.loads(str(raw))
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def save_favourite(self, name: str) -> None:
        favourites = self.favourites_dict()
        favourites[name] = format_filter(self.current_filter())
        QSettings().setValue(FAVOURITES_KEY, json.dumps(favourites, ensure_ascii=False))

    def remove_favourite(self, name: str) -> None:
        favourites = self.favourites_dict()
        favourites.pop(name, None)
        QSettings().setValue(FAVOURITES_KEY, json.dumps(favourites, ensure_ascii=False))

    def _ask_favourite_name(self) -> None:
        name, ok = QInputDialog.getText(self, "Save filter", "Name of this favourite filter:")
        if ok and name.strip():
            self.save_favourite(name.strip())

    def _fill_favourites(self) -> None:
        menu = self.favourites.menu()
        menu.clear()
        save = menu.addAction("Save current filter…", self._ask_favourite_name)
        save.setEnabled(not self.current_filter().is_empty())
        favourites = self.favourites_dict()
        if favourites:
            menu.addSeparator()
        for name, text in sorted(favourites.items()):
            action = menu.addAction(name, partial(self.set_filter_text, text))
            action.setToolTip(text)
        if favourites:
            remove = menu.addMenu("Remove")
            for name in sorted(favourites):
                remove.addAction(name, partial(self.remove_favourite, name))
        menu.setToolTipsVisible(True)
