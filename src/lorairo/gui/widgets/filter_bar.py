"""The filter bar: builds an `ImageFilter` from its widgets, shows the result count, keeps favourites.

The text field takes the whole filter language (docs/filters.md, the same parser as `lorairo query
--filter`): tags typed comma-separated (`long hair, cat|dog, -blurry`) with autocomplete, and any key term
(`score>=6 rating:general -untagged`). The other widgets are shortcuts; the bar's filter is the text AND the
widgets. A favourite stores the filter's text form in QSettings. Loading a filter shows what the widgets can
show in them and the rest as text in the field (nothing is kept hidden), with signals blocked. GUI thread only.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
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
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleRangeSlider

from lorairo.gui.widgets.details.flow_layout import FlowLayout
from lorairo.gui.widgets.tag_completer import Suggest, TagLineEdit
from lorairo.gui.workers import JobManager
from lorairo.services.filter_language import (
    ASPECTS,
    FILTER_HELP,
    FilterSyntaxError,
    ImageFilter,
    aspect_name,
    format_filter,
    merge_filters,
    named_aspect,
    parse_filter,
    upgrade_legacy_text,
)

SCORE_RANGE = (0.0, 10.0)
MAX_SIDE = 16384  # the "Min side" box's range
RATING_CHOICES = ("", "general", "sensitive", "questionable", "explicit", "sfw", "nsfw")
FAVOURITES_KEY = "filters/favourites-v2"  # texts in today's filter language
LEGACY_FAVOURITES_KEY = "filters/favourites"  # texts of the space-separated syntax before it (converted once)
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


def split_for_widgets(f: ImageFilter) -> tuple[ImageFilter, ImageFilter]:
    """(what the bar's widgets can show, the rest as a filter for the text field); merged they give `f`."""
    score_fits = (
        not f.score_name
        and not f.score_min_exclusive
        and not f.score_max_exclusive
        and (f.score_min is None or SCORE_RANGE[0] < f.score_min <= SCORE_RANGE[1])
        and (f.score_max is None or SCORE_RANGE[0] <= f.score_max < SCORE_RANGE[1])
        and (f.score_min is not None or f.score_max is not None)
    )
    named = aspect_name(f)
    shown_flags: dict[str, Any] = {name: True for name, _label in _FLAGS if getattr(f, name) is True}
    caption_fits = f.caption_text == f.caption_text.strip()  # the caption box strips what is typed
    side_fits = f.min_side is not None and 0 < f.min_side <= MAX_SIDE
    widgets = ImageFilter(
        caption_text=f.caption_text if caption_fits else "",
        score_min=f.score_min if score_fits else None,
        score_max=f.score_max if score_fits else None,
        ratings=f.ratings if len(f.ratings) == 1 and f.ratings[0] in RATING_CHOICES else (),
        min_side=f.min_side if side_fits else None,
        imported_from=f.imported_from if f.imported_to is None else None,
        **(named_aspect(named) if named else {}),
        **shown_flags,
    )
    cleared: dict[str, Any] = dict.fromkeys(shown_flags)
    if named:
        cleared |= dict.fromkeys(("aspect_min", "aspect_max")) | dict.fromkeys(
            ("aspect_min_exclusive", "aspect_max_exclusive"), False
        )
    text = replace(
        f,
        caption_text="" if caption_fits else f.caption_text,
        score_min=None if score_fits else f.score_min,
        score_max=None if score_fits else f.score_max,
        ratings=() if widgets.ratings else f.ratings,
        min_side=None if side_fits else f.min_side,
        imported_from=None if widgets.imported_from else f.imported_from,
        **cleared,
    )
    return widgets, text


def _load_json_dict(raw: object) -> dict[str, str]:
    try:
        data = json.loads(str(raw))
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


MIN_TAGS_WIDTH = 240  # the filter field stays wide enough to read a few tags at 1024 px
MIN_CAPTION_WIDTH = 140


def _labelled(text: str | None, widget: QWidget, parent: QWidget, *, lead: QWidget | None = None) -> QWidget:
    """`text` (or the `lead` widget) and `widget` as one item of the wrapping row, so they never wrap apart."""
    box = QWidget(parent)
    row = QHBoxLayout(box)
    row.setContentsMargins(0, 0, 0, 0)
    row.setSpacing(4)
    if lead is not None:
        lead.setParent(box)
        row.addWidget(lead)
    if text is not None:
        row.addWidget(QLabel(text, box))
    widget.setParent(box)
    row.addWidget(widget)
    return box


class FilterBar(QWidget):
    """Emits `filter_changed(ImageFilter)` (debounced) whenever the user changes a filter widget."""

    filter_changed = Signal(object)

    def __init__(self, jobs: JobManager, suggest: Suggest | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._timer = QTimer(self, singleShot=True, interval=250)
        self._timer.timeout.connect(self._emit)

        self.tags = TagLineEdit(jobs, suggest, self)
        self.tags.setPlaceholderText("Filter: long hair, cat|dog, -blurry  score>=6 …")
        self.tags.setClearButtonEnabled(True)
        # The one grammar, as `lorairo query --help` prints it (monospace keeps its columns aligned).
        self.tags.setToolTip(f"<pre>{html.escape(FILTER_HELP)}</pre>Ctrl+F focuses this field.")
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
        # A parse error names its column and the known keys (~200 characters): it must never widen the window.
        # The label takes the room left in its row and is cut there; the whole message is its tooltip.
        self.error_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.error_label.hide()
        # What would fix the error, when something can (e.g. "Compute embeddings" for a similar: search).
        self.error_action = QToolButton(self)
        self.error_action.hide()
        self._error_callback: Callable[[], None] | None = None
        self.error_action.clicked.connect(self._run_error_action)
        # Find similar replaces the filter; Back returns to the one before (Alt+Left).
        self.back_button = QToolButton(self)
        self.back_button.setText("◀ Back")
        self.back_button.hide()
        self.back_button.clicked.connect(self.go_back)
        self.back_action = QAction("Back to the previous filter", self)
        self.back_action.setShortcut("Alt+Left")
        self.back_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.back_action.setEnabled(False)
        self.back_action.triggered.connect(self.go_back)
        self.addAction(self.back_action)
        self._previous: str | None = None
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
        self.min_side.setRange(0, MAX_SIDE)
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

        # Layout that holds at 1024 px: the two text fields and the count on the first row (they keep a usable
        # width), every other control in a row that wraps onto a second line when the grid is narrow, instead of
        # squeezing the text fields to a few pixels or making the window wider than the screen.
        self.tags.setMinimumWidth(MIN_TAGS_WIDTH)
        self.caption.setMinimumWidth(MIN_CAPTION_WIDTH)
        row1 = QHBoxLayout()
        row1.addWidget(self.back_button)
        row1.addWidget(self.tags, 3)
        row1.addWidget(self.caption, 2)
        row1.addWidget(self.count_label)
        self.controls = QWidget(self)
        flow = FlowLayout(self.controls, spacing=6)
        flow.addWidget(_labelled("Score", self.score, self.controls))
        flow.addWidget(self.rating)
        flow.addWidget(_labelled("Min side", self.min_side, self.controls))
        flow.addWidget(self.aspect)
        flow.addWidget(_labelled(None, self.since, self.controls, lead=self.since_check))
        flow.addWidget(self.more)
        flow.addWidget(self.favourites)
        flow.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 2)
        layout.setSpacing(2)
        layout.addLayout(row1)
        layout.addWidget(self.controls)
        error_row = QHBoxLayout()
        error_row.addWidget(self.error_label, 1)
        error_row.addWidget(self.error_action)
        layout.addLayout(error_row)

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

    def widget_filter(self) -> ImageFilter:
        """What the widgets other than the text field select."""
        low, high = self.score.value()
        aspect = self.aspect.currentData()
        rating = self.rating.currentData()
        checked: dict[str, Any] = {name: True for name, action in self.flags.items() if action.isChecked()}
        qdate = self.since.date()
        since = date(qdate.year(), qdate.month(), qdate.day()) if self.since_check.isChecked() else None
        return ImageFilter(
            caption_text=self.caption.text().strip(),
            score_min=None if low <= SCORE_RANGE[0] else low,
            score_max=None if high >= SCORE_RANGE[1] else high,
            ratings=(rating,) if rating else (),
            min_side=self.min_side.value() or None,
            imported_from=since,
            **(named_aspect(aspect) if aspect else {}),
            **checked,
        )

    def current_filter(self) -> ImageFilter:
        """The text field (the filter language) AND the widgets. Raises FilterSyntaxError for a bad text."""
        return merge_filters(parse_filter(self.tags.text()), self.widget_filter())

    def set_filter(self, f: ImageFilter) -> None:
        """Show `f` (widgets where they can, the rest as text; signals blocked), then emit it once."""
        widgets, rest = split_for_widgets(f)
        blockers = [QSignalBlocker(w) for w in self._widgets()]
        try:
            self.tags.setText(format_filter(rest))
            self.caption.setText(widgets.caption_text)
            self.score.setValue(
                (
                    SCORE_RANGE[0] if widgets.score_min is None else widgets.score_min,
                    SCORE_RANGE[1] if widgets.score_max is None else widgets.score_max,
                )
            )
            self.rating.setCurrentIndex(max(0, self.rating.findData(widgets.ratings[0] if widgets.ratings else "")))
            self.min_side.setValue(widgets.min_side or 0)
            self.aspect.setCurrentIndex(max(0, self.aspect.findData(aspect_name(widgets))))
            self.since_check.setChecked(widgets.imported_from is not None)
            self.since.setEnabled(widgets.imported_from is not None)
            if widgets.imported_from is not None:
                self.since.setDate(
                    QDate(widgets.imported_from.year, widgets.imported_from.month, widgets.imported_from.day)
                )
            for name, action in self.flags.items():
                action.setChecked(getattr(widgets, name) is True)
        finally:
            del blockers
        self._update_more_text()
        self._emit()

    def set_filter_text(self, text: str) -> None:
        """Apply a filter in the text syntax; a syntax error is shown, not raised."""
        try:
            self.set_filter(parse_filter(text))
        except FilterSyntaxError as exc:
            self.show_error(str(exc))

    def clear(self) -> None:
        self.set_filter(ImageFilter())

    def push_filter_text(self, text: str) -> None:
        """Apply `text` and remember the filter shown before, so Back (Alt+Left) returns to it (Find similar)."""
        try:
            previous = format_filter(self.current_filter())
        except FilterSyntaxError:
            previous = self.tags.text()  # a half-typed text comes back as it was
        if previous != text:
            self._previous = previous
            self.back_button.setToolTip(f"Back to the previous filter: {previous or '(none)'} (Alt+Left)")
            self.back_button.show()
            self.back_action.setEnabled(True)
        self.set_filter_text(text)

    def go_back(self) -> None:
        """Show the filter that was shown before the last push_filter_text."""
        if self._previous is None:
            return
        text, self._previous = self._previous, None
        self.back_button.hide()
        self.back_action.setEnabled(False)
        self.set_filter_text(text)

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
        try:
            current = self.current_filter()
        except FilterSyntaxError as exc:  # say where the text is wrong; the grid keeps the last good result
            self.show_error(str(exc))
            return
        self.show_error("")
        self.filter_changed.emit(current)

    def apply_now(self) -> None:
        """Emit the current filter without waiting for the debounce (Enter, tests)."""
        self._emit()

    # --- feedback -------------------------------------------------------------------------------------------

    def set_count(self, shown: int, total: int | None = None) -> None:
        text = f"{shown:,} images" if total is None or total == shown else f"{shown:,} of {total:,} images"
        self.count_label.setText(text)

    def show_error(
        self, message: str, action: tuple[str, Callable[[], None]] | None = None, *, note: bool = False
    ) -> None:
        """Show `message` under the bar (red; grey for a `note`), with a button running `action` when given."""
        self.error_label.setText(message)
        self.error_label.setToolTip(message)
        self.error_label.setStyleSheet("color: palette(mid);" if note else "color: #d33;")
        self.error_label.setVisible(bool(message))
        self._error_callback = action[1] if action and message else None
        self.error_action.setText(action[0] if action else "")
        self.error_action.setVisible(self._error_callback is not None)

    def _run_error_action(self) -> None:
        callback = self._error_callback
        self.show_error("")
        if callback is not None:
            callback()

    # --- favourites -----------------------------------------------------------------------------------------

    def favourites_dict(self) -> dict[str, str]:
        settings = QSettings()
        if not settings.contains(FAVOURITES_KEY) and settings.contains(LEGACY_FAVOURITES_KEY):
            # Saved before the filter language: `cat dog` meant two tags then, one tag now. Convert once so a
            # favourite keeps selecting what it selected (the old entry is left as it was).
            old = _load_json_dict(settings.value(LEGACY_FAVOURITES_KEY, "{}"))
            upgraded = {name: upgrade_legacy_text(text) for name, text in old.items()}
            settings.setValue(FAVOURITES_KEY, json.dumps(upgraded, ensure_ascii=False))
        return _load_json_dict(settings.value(FAVOURITES_KEY, "{}"))

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
        try:
            save.setEnabled(not self.current_filter().is_empty())
        except FilterSyntaxError:
            save.setEnabled(False)
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
