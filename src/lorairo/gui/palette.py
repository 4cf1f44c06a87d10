"""Fusion style with a palette that follows the system's light or dark colour scheme (and its changes)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


def dark_palette() -> QPalette:
    """A neutral dark palette for Fusion (Fusion's own palette is light on platforms without a theme)."""
    palette = QPalette()
    base, window, text, mid = QColor(35, 35, 38), QColor(48, 48, 52), QColor(225, 225, 228), QColor(70, 70, 76)
    roles = {
        QPalette.ColorRole.Window: window,
        QPalette.ColorRole.WindowText: text,
        QPalette.ColorRole.Base: base,
        QPalette.ColorRole.AlternateBase: window,
        QPalette.ColorRole.ToolTipBase: window,
        QPalette.ColorRole.ToolTipText: text,
        QPalette.ColorRole.PlaceholderText: QColor(140, 140, 146),
        QPalette.ColorRole.Text: text,
        QPalette.ColorRole.Button: window,
        QPalette.ColorRole.ButtonText: text,
        QPalette.ColorRole.BrightText: QColor(255, 90, 90),
        QPalette.ColorRole.Light: mid.lighter(130),
        QPalette.ColorRole.Midlight: mid,
        QPalette.ColorRole.Mid: mid.darker(120),
        QPalette.ColorRole.Dark: QColor(25, 25, 28),
        QPalette.ColorRole.Shadow: QColor(10, 10, 10),
        QPalette.ColorRole.Highlight: QColor(64, 128, 214),
        QPalette.ColorRole.HighlightedText: QColor(255, 255, 255),
        QPalette.ColorRole.Link: QColor(110, 165, 240),
    }
    for role, colour in roles.items():
        palette.setColor(role, colour)
    disabled = QColor(125, 125, 130)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, disabled)
    return palette


def system_is_dark() -> bool:
    return QGuiApplication.styleHints().colorScheme() == Qt.ColorScheme.Dark


def apply_palette(app: QApplication, dark: bool | None = None) -> None:
    """Fusion everywhere (consistent look), dark or light palette as the system prefers."""
    app.setStyle("Fusion")
    use_dark = system_is_dark() if dark is None else dark
    app.setPalette(dark_palette() if use_dark else app.style().standardPalette())


def follow_system_palette(app: QApplication) -> None:
    """Apply now and again whenever the system switches between light and dark."""
    apply_palette(app)
    QGuiApplication.styleHints().colorSchemeChanged.connect(lambda _scheme: apply_palette(app))
