"""ConfigurationService: defaults, validation, persistence with comments, env overrides, masking."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lorairo.exceptions import ConfigurationError
from lorairo.services.configuration_service import ConfigurationService, mask_api_key


def user_file() -> Path:
    return Path(os.environ["LORAIRO_CONFIG_PATH"])


def test_defaults_come_from_config_file_without_creating_user_file() -> None:
    config = ConfigurationService()
    assert config.get_setting("log", "level") == "INFO"
    assert config.get_setting("image_processing", "max_file_size_mb") == 50
    assert config.get("ai_providers.openai.rate_limit_requests_per_minute") == 60
    assert not user_file().exists()


def test_update_persists_at_once_and_keeps_comments(tmp_path: Path) -> None:
    config = ConfigurationService()
    config.update_setting("log", "level", "debug")
    text = user_file().read_text(encoding="utf-8")
    assert 'level = "DEBUG"' in text
    assert "# DEBUG / INFO / WARNING / ERROR / CRITICAL" in text  # the user's comments survive
    # A fresh service (another process) sees the change.
    assert ConfigurationService().get_setting("log", "level") == "DEBUG"
    # No temp files left beside the config.
    assert [p.name for p in user_file().parent.iterdir()] == ["lorairo.toml"]


def test_user_comment_added_by_hand_survives_an_update() -> None:
    config = ConfigurationService()
    config.update_setting("api", "openai_key", "sk-test-1234567890")
    path = user_file()
    path.write_text(path.read_text(encoding="utf-8").replace("[log]", "# my own note\n[log]"), encoding="utf-8")
    config.update_setting("resources", "max_workers", 3)
    text = path.read_text(encoding="utf-8")
    assert "# my own note" in text
    assert "max_workers = 3" in text


@pytest.mark.parametrize(
    ("section", "key", "value", "fragment"),
    [
        ("log", "level", "LOUD", "log.level"),
        ("resources", "max_workers", "four", "resources.max_workers"),
        ("resources", "batch_size", 0, "resources.batch_size"),
        ("directories", "database_dir", "relative/path", "directories.database_dir"),
        ("image_processing", "thumbnail_format", "gif", "image_processing.thumbnail_format"),
        ("app", "debug", "yes", "app.debug"),
        ("export", "caption_extension", "txt", "export.caption_extension"),
    ],
)
def test_invalid_values_raise_naming_the_key(section: str, key: str, value: object, fragment: str) -> None:
    config = ConfigurationService()
    with pytest.raises(ConfigurationError) as err:
        config.update_setting(section, key, value)
    assert fragment in str(err.value)
    assert err.value.key == fragment
    assert not user_file().exists()  # nothing was written


def test_unknown_key_is_an_error() -> None:
    config = ConfigurationService()
    with pytest.raises(ConfigurationError, match=r"unknown setting 'log\.colour'"):
        config.get_setting("log", "colour")
    with pytest.raises(ConfigurationError, match="unknown setting"):
        config.update_setting("nope", "key", 1)


def test_directory_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(ConfigurationError, match="is not a folder"):
        ConfigurationService().update_setting("directories", "export_dir", str(a_file))


def test_syntax_error_names_file_and_line_and_file_is_never_overwritten() -> None:
    path = user_file()
    path.parent.mkdir(parents=True)
    broken = '[log]\nlevel = "INFO"\nfile_path = "unterminated\n'
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigurationError) as err:
        ConfigurationService()
    assert str(path) in str(err.value)
    assert "line 3" in str(err.value)
    assert path.read_text(encoding="utf-8") == broken


def test_update_refuses_to_touch_a_broken_file() -> None:
    config = ConfigurationService()
    config.update_setting("log", "level", "WARNING")
    path = user_file()
    broken = path.read_text(encoding="utf-8") + "\n[[[ nonsense\n"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigurationError, match="invalid TOML"):
        config.update_setting("log", "level", "ERROR")
    assert path.read_text(encoding="utf-8") == broken


def test_invalid_value_in_user_file_names_file_and_key() -> None:
    path = user_file()
    path.parent.mkdir(parents=True)
    path.write_text('[log]\nlevel = "CHATTY"\n', encoding="utf-8")
    with pytest.raises(ConfigurationError) as err:
        ConfigurationService()
    assert str(path) in str(err.value) and "log.level" in str(err.value)


def test_environment_overrides_file(monkeypatch: pytest.MonkeyPatch) -> None:
    config = ConfigurationService()
    config.update_setting("log", "level", "ERROR")
    monkeypatch.setenv("LORAIRO_LOG_LEVEL", "debug")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123456")
    monkeypatch.setenv("LORAIRO_MAX_WORKERS", "3")
    monkeypatch.setenv("LORAIRO_DATABASE_DIR", "/tmp/elsewhere")
    config = ConfigurationService()
    assert config.get_setting("log", "level") == "DEBUG"
    assert config.get_setting("api", "openai_key") == "sk-from-env-123456"
    assert config.max_workers() == 3
    assert config.database_dir() == Path("/tmp/elsewhere")
    assert config.env_override("log.level") == "LORAIRO_LOG_LEVEL"
    # The override is not persisted.
    assert "sk-from-env" not in user_file().read_text(encoding="utf-8")


def test_debug_env_turns_on_debug_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORAIRO_DEBUG", "true")
    config = ConfigurationService()
    assert config.get_setting("app", "debug") is True
    assert config.get_setting("log", "level") == "DEBUG"


def test_invalid_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LORAIRO_BATCH_SIZE", "lots")
    with pytest.raises(ConfigurationError, match="LORAIRO_BATCH_SIZE"):
        ConfigurationService()


@pytest.mark.parametrize(
    ("key", "masked"),
    [("sk-abcdefghwxyz", "sk-a***wxyz"), ("short", "***"), ("", "***"), ("12345678", "1234***5678")],
)
def test_mask_api_key(key: str, masked: str) -> None:
    assert mask_api_key(key) == masked


def test_available_providers_follow_keys() -> None:
    config = ConfigurationService()
    assert config.get_available_providers() == []
    config.update_setting("api", "claude_key", "sk-ant-0123456789")
    config.update_setting("api", "google_key", "AIza-0123456789")
    assert config.get_available_providers() == ["anthropic", "google"]
    assert config.api_keys() == {"anthropic": "sk-ant-0123456789", "google": "AIza-0123456789"}


def test_secret_values_are_not_echoed_in_errors() -> None:
    config = ConfigurationService()
    with pytest.raises(ConfigurationError) as err:
        config.update_setting("api", "openai_key", 12345678901234)
    assert "12345678901234" not in str(err.value)


def test_as_dict_masks_secrets() -> None:
    config = ConfigurationService()
    config.update_setting("huggingface", "token", "hf_abcdefghijklmnopqrstuvwxyz")
    shown = config.as_dict()
    assert shown["huggingface"]["token"] == "hf_a***wxyz"
    assert config.as_dict(masked=False)["huggingface"]["token"] == "hf_abcdefghijklmnopqrstuvwxyz"


def test_subscribers_hear_changes_after_they_are_saved() -> None:
    config = ConfigurationService()
    heard: list[tuple[str, object, bool]] = []
    unsubscribe = config.subscribe(lambda key, value: heard.append((key, value, user_file().exists())))
    config.update_setting("annotation", "general_threshold", 0.5)
    unsubscribe()
    config.update_setting("annotation", "general_threshold", 0.6)
    assert heard == [("annotation.general_threshold", 0.5, True)]


@pytest.mark.parametrize("fmt", ["simpletuner", "ai-toolkit", "diffusion-pipe", "musubi"])
def test_trainer_formats_are_valid_export_defaults(fmt: str) -> None:
    config = ConfigurationService()
    config.update_setting("export", "format", fmt)
    assert config.get("export.format") == fmt
    with pytest.raises(ConfigurationError, match=r"export\.format"):
        config.update_setting("export", "format", "musubi-trainer")
