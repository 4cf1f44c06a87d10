"""ThumbnailGridView: arithmetic layout, scrolling, keyboard and mouse selection as a user meets them."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QStringListModel, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from lorairo.gui.widgets.grid_view import SPACING, ThumbnailGridView

ICON = 64
CELL = ICON + 2 * SPACING  # 76 px


def _view(qtbot, count: int, width: int = 5 * CELL + 20) -> ThumbnailGridView:  # type: ignore[no-untyped-def]
    view = ThumbnailGridView()
    qtbot.addWidget(view)
    model = QStringListModel([str(i) for i in range(count)], view)
    view.setModel(model)
    view.apply_icon_size(ICON)
    view.resize(width, 4 * CELL)
    view.show()
    qtbot.waitExposed(view)
    view.resize(view.width() - view.viewport().width() + 5 * CELL + 10, 4 * CELL)  # exactly 5 columns
    qtbot.waitUntil(lambda: view._columns == 5)
    return view


def _selected_rows(view: ThumbnailGridView) -> list[int]:
    return sorted(index.row() for index in view.selectionModel().selectedIndexes())


def _centre(view: ThumbnailGridView, row: int):  # type: ignore[no-untyped-def]
    return view.visualRect(view.model().index(row, 0)).center()


def test_layout_is_a_grid_and_index_at_inverts_it(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = _view(qtbot, 23)
    model = view.model()
    assert view.visualRect(model.index(0, 0)).topLeft().toTuple() == (0, 0)
    assert view.visualRect(model.index(7, 0)).topLeft().toTuple() == (2 * view._cell.width(), CELL)
    for row in (0, 4, 5, 22):
        assert view.indexAt(_centre(view, row)).row() == row
    assert not view.indexAt(_centre(view, 22) + QPoint(view._cell.width(), 0)).isValid()
    # 23 images in 5 columns = 5 lines; the scroll range is what does not fit
    assert view.verticalScrollBar().maximum() == 5 * CELL - view.viewport().height()


def test_appending_rows_keeps_the_scroll_position_and_extends_the_range(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = _view(qtbot, 100)
    bar = view.verticalScrollBar()
    bar.setValue(3 * CELL)
    before = bar.maximum()
    model = view.model()
    model.insertRows(100, 50)
    assert bar.value() == 3 * CELL
    assert bar.maximum() == before + 10 * CELL


def test_keyboard_moves_by_cells_and_lines(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = _view(qtbot, 23)
    view.setFocus()
    view.setCurrentIndex(view.model().index(1, 0))
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.currentIndex().row() == 6
    qtbot.keyClick(view, Qt.Key.Key_Right)
    assert view.currentIndex().row() == 7
    qtbot.keyClick(view, Qt.Key.Key_Down)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.currentIndex().row() == 17
    qtbot.keyClick(view, Qt.Key.Key_Down)  # no image below in the last line: the last image, as file managers do
    assert view.currentIndex().row() == 22
    qtbot.keyClick(view, Qt.Key.Key_Home)
    assert view.currentIndex().row() == 0
    qtbot.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.ShiftModifier)
    assert _selected_rows(view) == [0, 1, 2, 3, 4, 5]  # Shift selects the reading-order range


def test_shift_click_selects_a_range_and_a_drag_selects_a_rectangle(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = _view(qtbot, 23)
    port = view.viewport()
    qtbot.mouseClick(port, Qt.MouseButton.LeftButton, pos=_centre(view, 3))
    assert _selected_rows(view) == [3]
    qtbot.mouseClick(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier, _centre(view, 11))
    assert _selected_rows(view) == list(range(3, 12))
    qtbot.mouseClick(port, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, _centre(view, 20))
    assert _selected_rows(view) == [*range(3, 12), 20]

    # a rubber band from cell 1 to cell 12 (columns 1-2, lines 0-2) selects those six cells only
    qtbot.mousePress(port, Qt.MouseButton.LeftButton, pos=_centre(view, 1))
    end = _centre(view, 12)
    move = QMouseEvent(
        QMouseEvent.Type.MouseMove,
        QPointF(end),
        QPointF(port.mapToGlobal(end)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(port, move)
    assert not view._band.isNull()  # drawn while dragging
    qtbot.mouseRelease(port, Qt.MouseButton.LeftButton, pos=end)
    assert _selected_rows(view) == [1, 2, 6, 7, 11, 12]
    assert view._band.isNull()


def test_the_rubber_band_is_painted_while_dragging(qtbot) -> None:  # type: ignore[no-untyped-def]
    """Regression: painting the band raised AttributeError (`band.Shape` is on QRubberBand, not the option), so
    every drag-select repaint failed. Grab the viewport mid-drag: the band must be drawn over the cells."""
    view = _view(qtbot, 23)
    port = view.viewport()
    before = port.grab().toImage()
    start, end = _centre(view, 0), _centre(view, 12)
    qtbot.mousePress(port, Qt.MouseButton.LeftButton, pos=start)
    move = QMouseEvent(
        QMouseEvent.Type.MouseMove,
        QPointF(end),
        QPointF(port.mapToGlobal(end)),
        Qt.MouseButton.NoButton,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(port, move)
    during = port.grab().toImage()  # runs paintEvent with the band set
    qtbot.mouseRelease(port, Qt.MouseButton.LeftButton, pos=end)
    inside = QPoint(view._cell.width() + 2, view._cell.height() + 2)  # a cell edge inside the band, no thumbnail
    assert during.pixelColor(inside) != before.pixelColor(inside)
    after = port.grab().toImage()
    assert after.pixelColor(inside) != during.pixelColor(inside)  # released: the band is gone


def test_resizing_keeps_the_first_visible_image_at_the_top(qtbot) -> None:  # type: ignore[no-untyped-def]
    view = _view(qtbot, 500)
    view.scrollTo(view.model().index(200, 0), ThumbnailGridView.ScrollHint.PositionAtTop)
    assert view.indexAt(view.viewport().rect().topLeft()).row() == 200
    view.apply_icon_size(ICON * 2)  # fewer columns
    first = view.indexAt(view.viewport().rect().topLeft()).row()
    assert first <= 200 < first + view._columns
