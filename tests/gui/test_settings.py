"""Settings dialog: saved at once, applied at once, bad values refused with ConfigurationService's message;
window state remembered between sessions."""

from __future__ import annotations

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QLineEdit

from lorairo.gui.dialogs.settings_dialog import SettingsDialog
from lorairo.services.configuration_service import ConfigurationService


def test_settings_are_saved_and_applied_at_once(qtbot, window, tmp_path) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(window.config, window)
    qtbot.addWidget(dialog)
    changes: list[str] = []
    window.config.subscribe(lambda key, _v: changes.append(key))

    key_edit = dialog.editors["api.openai_key"]
    assert isinstance(key_edit, QLineEdit) and key_edit.echoMode() == QLineEdit.EchoMode.Password
    key_edit.setText("sk-test-1234567890abcd")
    key_edit.editingFinished.emit()
    assert window.config.api_keys() == {"openai": "sk-test-1234567890abcd"}

    dialog.editors["log.level"].setCurrentText("DEBUG")
    assert window.config.get("log.level") == "DEBUG"
    assert {"api.openai_key", "log.level"} <= set(changes)

    folder = tmp_path / "elsewhere"
    folder.mkdir()
    export_edit = dialog.editors["directories.export_dir"]
    export_edit.setText(str(folder))
    export_edit.editingFinished.emit()
    assert window.config.export_dir() == folder  # takes effect now
    assert not dialog.editors["directories.database_dir"].isEnabled()  # LORAIRO_DATABASE_DIR overrides it

    # persisted: a fresh service reads the same file
    again = ConfigurationService()
    assert again.get("log.level") == "DEBUG"
    assert again.get("api.openai_key") == "sk-test-1234567890abcd"
    assert "sk-test-1234567890abcd" not in window.log_panel.log.toPlainText()  # keys are masked in the log


def test_a_refused_value_shows_the_reason_and_is_not_saved(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(window.config, window)
    qtbot.addWidget(dialog)
    dialog.show()
    edit = dialog.editors["directories.export_dir"]
    edit.setText("relative/folder")
    edit.editingFinished.emit()
    assert "must be an absolute path" in dialog.errors["directories.export_dir"].text()
    assert not dialog.errors["directories.export_dir"].isHidden()
    assert window.config.get("directories.export_dir") == ""


def test_environment_overrides_are_shown_read_only(qtbot, window, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("LORAIRO_LOG_LEVEL", "ERROR")
    window.config.reload()
    dialog = SettingsDialog(window.config, window)
    qtbot.addWidget(dialog)
    assert not dialog.editors["log.level"].isEnabled()


def test_window_state_is_remembered(qtbot, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from lorairo.gui.app import create_window

    first = create_window()
    qtbot.addWidget(first)
    first.show()
    first.ensure_browser().grid.set_icon_size(224)
    first.log_dock.hide()
    first.resize(1111, 777)
    first.close()

    second = create_window()
    qtbot.addWidget(second)
    second.show()
    assert second.ensure_browser().grid.icon_size() == 224
    # (the offscreen screen is 800x600, so restoreGeometry clamps the size: check that it was saved)
    assert QSettings().value("window/geometry") is not None
    assert not second.log_dock.isVisible()
    second.close()


def test_editors_take_ranges_and_choices_from_the_schema(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    from PySide6.QtWidgets import QComboBox, QSpinBox

    from lorairo.utils.config_schema import LOG_LEVELS, max_workers_limit

    dialog = SettingsDialog(window.config, window)
    qtbot.addWidget(dialog)
    workers = dialog.editors["resources.max_workers"]
    assert isinstance(workers, QSpinBox)
    assert (workers.minimum(), workers.maximum()) == (0, max_workers_limit())  # was 0..256 on any machine
    levels = dialog.editors["log.level"]
    assert isinstance(levels, QComboBox)
    assert [levels.itemText(i) for i in range(levels.count())] == list(LOG_LEVELS)
    assert "api.openrouter_key" in dialog.editors


def test_unknown_default_model_is_refused_under_the_field(qtbot, window) -> None:  # type: ignore[no-untyped-def]
    dialog = SettingsDialog(window.config, window)
    qtbot.addWidget(dialog)
    edit = dialog.editors["annotation.default_models"]
    assert isinstance(edit, QLineEdit)
    edit.setText("open-nsfw, not-a-model")
    edit.editingFinished.emit()
    assert "unknown model 'not-a-model'" in dialog.errors["annotation.default_models"].text()
    assert window.config.get("annotation.default_models") == ["wd-vit-tagger-v3", "open-nsfw"]
