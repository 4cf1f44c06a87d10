"""The settings schema: one set of rules for `config set`, the Settings dialog and the loader."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from lorairo.exceptions import ConfigurationError
from lorairo.main import main
from lorairo.services.configuration_service import ConfigurationService
from lorairo.utils import config as cfg
from lorairo.utils.config_schema import max_workers_limit


def user_file() -> Path:
    return Path(os.environ["LORAIRO_CONFIG_PATH"])


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_every_number_has_a_range_and_every_default_passes_its_own_rules() -> None:
    config = ConfigurationService()
    for key in config.keys():  # noqa: SIM118 - not a mapping
        setting = config.setting(key)
        if setting.type in (int, float):
            low, high = setting.bounds()
            assert low is not None and high is not None, f"{key} has no range"
        assert setting.check(setting.default) == setting.default, key


@pytest.mark.parametrize(
    ("key", "text", "fragment"),
    [
        ("export.repeats", "0", "must be between 1 and 10000 (got 0)"),
        ("image_processing.extensions", '["jpg"', "is not a valid list"),
        ("image_processing.extensions", "jpg,with space", "entry 2 'with space' is not a file extension"),
        ("image_processing.extensions", "[]", "needs at least 1 entry"),
        ("image_processing.extensions", "[1, 2]", "expected a list of strings"),
        ("resources.max_workers", "-3", "must be between 0 and"),
        ("resources.max_workers", str(max_workers_limit() + 1), "the limit is 4 per core"),
        ("annotation.general_threshold", "1.5", "must be between 0 and 1"),
        ("annotation.general_threshold", "nan", "expected a finite number"),
        ("ai_providers.openai.base_url", "localhost:8080", "must be an http(s):// URL"),
        ("log.level", "loud", "log level must be one of"),
        ("export.format", "dreambooth", "must be one of kohya"),
    ],
)
def test_config_set_refuses_nonsense_naming_key_and_reason(
    capsys: pytest.CaptureFixture[str], key: str, text: str, fragment: str
) -> None:
    code, _, err = run(capsys, "config", "set", key, text)
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err  # one line, not a traceback or typer's usage box
    assert key in lines[0] and fragment in lines[0]
    assert "No such option" not in err
    assert not user_file().exists()  # nothing was written


def test_negative_value_is_parsed_as_a_value_not_an_option(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "config", "set", "resources.max_workers", "-3")
    assert code == 1 and "must be between 0 and" in err and "(got -3)" in err
    # A negative number a key accepts is saved (the threshold of a range starting below zero would be; here
    # the --json option after the value still works).
    code, out, _ = run(capsys, "config", "set", "resources.max_workers", "2", "--json")
    assert code == 0 and '"value": 2' in out


def test_lists_parse_as_toml_arrays_or_comma_separated_and_are_normalised(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "config", "set", "image_processing.extensions", '[".JPG", "png", "jpg"]')[0] == 0
    assert ConfigurationService().get("image_processing.extensions") == ["jpg", "png"]
    assert run(capsys, "config", "set", "image_processing.extensions", "webp, png,")[0] == 0
    assert ConfigurationService().get("image_processing.extensions") == ["webp", "png"]


def test_unknown_model_names_are_refused_and_known_ones_saved(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "config", "set", "annotation.default_models", "open-nsfw,no-such-model")
    assert code == 1
    assert "annotation.default_models" in err and "'no-such-model'" in err and "lorairo models list" in err
    assert not user_file().exists()
    assert run(capsys, "config", "set", "annotation.default_models", "open-nsfw")[0] == 0
    assert ConfigurationService().get("annotation.default_models") == ["open-nsfw"]


def test_openrouter_key_from_file_or_environment_reaches_the_model_list(monkeypatch: pytest.MonkeyPatch) -> None:
    config = ConfigurationService()
    config.update_setting("api", "openrouter_key", "sk-or-v1-0123456789abcdef")
    assert config.api_keys() == {"openrouter": "sk-or-v1-0123456789abcdef"}
    assert config.as_dict()["api"]["openrouter_key"] == "sk-o***cdef"
    monkeypatch.setenv("OPENROUTER_API_KEY", "sk-or-v1-fromenvironment")
    again = ConfigurationService()
    assert again.api_keys()["openrouter"] == "sk-or-v1-fromenvironment"
    assert again.env_override("api.openrouter_key") == "OPENROUTER_API_KEY"


def test_max_workers_from_a_bigger_machine_is_capped_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    path = user_file()
    path.parent.mkdir(parents=True)
    path.write_text("[resources]\nmax_workers = 100000\n", encoding="utf-8")
    config = ConfigurationService()  # loads: the file may come from a machine with more cores
    assert config.max_workers() == max_workers_limit()
    with pytest.raises(ConfigurationError, match=r"resources\.max_workers: must be between 0 and"):
        config.update_setting("resources", "max_workers", 100000)


def test_non_utf8_config_is_one_line_with_line_and_byte_and_is_never_overwritten(
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = user_file()
    path.parent.mkdir(parents=True)
    content = '[log]\nlevel = "INFO"\n# caf\xe9 note saved as Latin-1\n'.encode("latin-1")
    path.write_bytes(content)
    for args in (("config", "show"), ("config", "set", "log.level", "DEBUG"), ("project", "list")):
        code, _, err = run(capsys, *args)
        assert code == 1
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        offset = content.index(b"\xe9")
        assert str(path) in lines[0] and "line 3" in lines[0] and f"byte offset {offset}" in lines[0]
        assert path.read_bytes() == content


_SPELLINGS = ["jpg", "PNG", ".webp", "tif", " gif ", "JPG"]


@pytest.mark.parametrize("items", [list(c) for n in (1, 2, 3) for c in itertools.permutations(_SPELLINGS, n)])
def test_extension_lists_read_the_same_in_both_syntaxes(items: list[str]) -> None:
    default = ["jpg"]
    comma = cfg.parse_cli_value("image_processing.extensions", ",".join(items), default)
    array = cfg.parse_cli_value("image_processing.extensions", "[" + ", ".join(f'"{i}"' for i in items) + "]", default)
    expected = list(dict.fromkeys(i.strip().lower().removeprefix(".") for i in items))
    assert cfg.validate_value("image_processing.extensions", comma, default) == expected
    assert cfg.validate_value("image_processing.extensions", array, default) == expected


def test_an_unknown_key_suggests_the_nearest_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "config", "set", "export.repeat", "3")
    assert code == 1 and "unknown setting 'export.repeat' (did you mean export.repeats?)" in err
