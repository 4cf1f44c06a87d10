"""The single-image page of the details panel: preview, file info, tag chips, caption, rating and score.

Widgets only: it emits requests (remove / rename / add tags, save caption, rating, score) that the panel turns
into edits, and `populate` shows a frozen `ImageDetails`. GUI thread only.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from lorairo.gui.widgets.details.batch_editor import split_tags
from lorairo.gui.widgets.details.captions import CaptionList
from lorairo.gui.widgets.details.editors import RatingCombo, ScoreSpin
from lorairo.gui.widgets.details.flow_layout import FlowLayout
from lorairo.gui.widgets.details.preview import PreviewView
from lorairo.gui.widgets.details.tag_chips import TagChipArea
from lorairo.gui.widgets.details.tag_source import NO_DATABASE_NOTE
from lorairo.gui.widgets.tag_completer import Suggest, TagLineEdit
from lorairo.gui.workers import JobManager
from lorairo.services.edit_service import EditError, ImageDetails, TagInfo, check_tag_text, normalize_tag

CATEGORY_ORDER = ("character", "copyright", "artist", "general", "meta", "rating")


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


def _shrinkable(label: QLabel) -> None:
    """Let `label` be narrower than its longest unbreakable word (a long file name or path): clipped, rather than
    setting the whole panel's minimum width and with it a horizontal scrollbar in a dock of normal width."""
    policy = label.sizePolicy()
    policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
    label.setSizePolicy(policy)
    label.setMinimumWidth(0)


class ImageView(QSplitter):
    """Preview above, scrollable details and editors below (the user can move the divider)."""

    remove_requested = Signal(str)
    rename_requested = Signal(str, str)
    add_requested = Signal(list)  # list[str]
    reorder_requested = Signal(list)  # list[str]: the image's tags in the order they should be written
    caption_save_requested = Signal(str)
    captions_save_requested = Signal(list)  # list[str]: every manual caption in order
    rating_chosen = Signal(object)  # str | None
    score_chosen = Signal(object)  # float | None

    def __init__(self, jobs: JobManager, suggest: Suggest, parent: QWidget | None = None) -> None:
        super().__init__(Qt.Orientation.Vertical, parent)
        self.preview = PreviewView(self)
        self.addWidget(self.preview)
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        body = QWidget(scroll)
        scroll.setWidget(body)
        self.addWidget(scroll)
        # The preview gets a quarter: the image is large in the window's viewer (Space), and the tag field and
        # caption must stay above the fold of a 768 px high window.
        self.setStretchFactor(0, 1)
        self.setStretchFactor(1, 3)
        layout = QVBoxLayout(body)

        self.title = QLabel(body)
        self.title.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.title.setWordWrap(True)
        _shrinkable(self.title)
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
            _shrinkable(label)
            self.info_labels[key] = label
            info.addRow(f"{key}:", label)
        # The file facts go last: the tag field and the caption (what the user edits) stay above the fold in a
        # 768 px high window; the facts are a scroll away.

        tags_box, tags_layout = _section("Tags", body)
        self.tags_box = tags_box
        self.chips = TagChipArea(tags_box)
        self.chips.remove_requested.connect(self.remove_requested)
        self.chips.rename_requested.connect(self.rename_requested)
        self.chips.reorder_requested.connect(self.reorder_requested)
        tags_layout.addWidget(self.chips)
        add_row = QHBoxLayout()
        self.tag_input = TagLineEdit(jobs, suggest, tags_box)
        self.tag_input.setPlaceholderText("Add tags (comma-separated), Enter to add")
        self.tag_input.returnPressed.connect(self.add_from_input)
        self.add_button = QPushButton("Add", tags_box)
        self.add_button.clicked.connect(self.add_from_input)
        add_row.addWidget(self.tag_input, 1)
        add_row.addWidget(self.add_button)
        tags_layout.addLayout(add_row)
        self.input_error = QLabel(tags_box)
        self.input_error.setWordWrap(True)
        self.input_error.setStyleSheet("color: #c0392b;")
        self.input_error.hide()
        tags_layout.addWidget(self.input_error)
        self.vocabulary_note = _muted(NO_DATABASE_NOTE, tags_box)
        self.vocabulary_note.setTextFormat(Qt.TextFormat.RichText)
        self.vocabulary_note.hide()
        tags_layout.addWidget(self.vocabulary_note)
        self.rejected_label = _muted("", tags_box)
        tags_layout.addWidget(self.rejected_label)
        written = QLabel("Will be written (current export settings):", tags_box)
        written.setStyleSheet("color: palette(placeholder-text);")
        written.setWordWrap(True)  # one unbroken line of ~250 px gave a narrow dock a horizontal scrollbar
        tags_layout.addWidget(written)
        self.caption_line = QLabel(tags_box)
        self.caption_line.setObjectName("caption_line")
        self.caption_line.setWordWrap(True)
        self.caption_line.setTextFormat(Qt.TextFormat.PlainText)
        self.caption_line.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.caption_line.setStyleSheet(
            "font-family: monospace; padding: 4px; border: 1px solid palette(mid); border-radius: 3px;"
        )
        _shrinkable(self.caption_line)  # a long tag has no break opportunity: it must not widen the panel
        tags_layout.addWidget(self.caption_line)
        layout.addWidget(tags_box)

        caption_box, caption_layout = _section("Captions", body)
        self.captions = CaptionList(caption_box)
        self.caption_editor = self.captions.first  # the first caption (a single caption works as before)
        self.captions.save_requested.connect(self.captions_save_requested)
        caption_layout.addWidget(self.captions)
        self.model_captions = _muted("", caption_box)
        caption_layout.addWidget(self.model_captions)
        layout.addWidget(caption_box)

        rating_box, rating_layout = _section("Rating and score", body)
        # Rating and score wrap onto two lines in a narrow dock instead of giving the panel a horizontal scrollbar.
        row = FlowLayout(spacing=16)
        self.rating_combo = RatingCombo(rating_box)
        self.rating_combo.rating_chosen.connect(self.rating_chosen)
        self.score_spin = ScoreSpin(rating_box)
        self.score_spin.score_chosen.connect(self.score_chosen)
        for text, field in (("Rating", self.rating_combo), ("Score", self.score_spin)):
            pair = QWidget(rating_box)
            pair_layout = QHBoxLayout(pair)
            pair_layout.setContentsMargins(0, 0, 0, 0)
            pair_layout.addWidget(QLabel(text, pair))
            field.setParent(pair)
            pair_layout.addWidget(field)
            row.addWidget(pair)
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
        file_box, file_layout = _section("File", body)
        file_layout.addLayout(info)
        layout.addWidget(file_box)
        layout.addStretch(1)

    def add_from_input(self) -> None:
        """Add what is typed (comma-separated tags); text that cannot be a tag is kept, with the reason shown."""
        try:
            tags = split_tags(self.tag_input.text())
            for tag in tags:
                check_tag_text(normalize_tag(tag))
        except EditError as exc:
            self.input_error.setText(str(exc))
            self.input_error.show()
            return
        self.input_error.hide()
        if tags:
            self.tag_input.clear()
            self.add_requested.emit(tags)

    def set_caption_line(self, lines: tuple[str, ...], note: str = "") -> None:
        """Show the caption line(s) export would write (or why nothing is written)."""
        self.caption_line.setText("\n".join(lines) if lines else note)
        self.caption_line.setEnabled(bool(lines))

    def populate(self, details: ImageDetails, order: Sequence[str] | None = None) -> None:
        """Show `details` (a caption the user is still typing is left alone); `order` is the order the tags are
        written in (None: by category, then name)."""
        self.title.setText(details.file_name)
        self.title.setToolTip(f"{details.file_name}\nImage #{details.image_id}")  # whole even when clipped
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

        if order is not None:  # the order export writes them (category order, then the user's order)
            rank = {tag: n for n, tag in enumerate(order)}
            tags = sorted(details.tags, key=lambda info: rank.get(info.tag, len(rank)))
        else:

            def category_first(info: TagInfo) -> tuple[int, str]:
                category = info.category
                place = CATEGORY_ORDER.index(category) if category in CATEGORY_ORDER else len(CATEGORY_ORDER)
                return place, info.tag

            tags = sorted(details.tags, key=category_first)
        self.tags_box.setTitle(f"Tags ({len(tags)})")
        self.chips.set_tags(tags)
        rejected = ", ".join(t.tag for t in details.rejected_tags)
        self.rejected_label.setText(f"Removed model/sidecar tags (kept out of export): {rejected}" if rejected else "")
        self.rejected_label.setVisible(bool(rejected))

        self.captions.load(details.image_id, [c.text for c in details.captions if c.source == "manual"])
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
