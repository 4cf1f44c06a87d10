"""Secrets never reach the log file unmasked: not in messages, not in exception text."""

from __future__ import annotations

from pathlib import Path

import pytest
from loguru import logger

from lorairo.services.configuration_service import ConfigurationService
from lorairo.utils.log import redact, setup_from_config, setup_logging

KEY = "sk-proj-SECRETsecret1234567890wxyz"


@pytest.fixture
def configured(tmp_path: Path) -> tuple[ConfigurationService, Path]:
    config = ConfigurationService()
    log_file = tmp_path / "logs" / "lorairo.log"
    config.update_setting("log", "file_path", str(log_file))
    config.update_setting("api", "openai_key", KEY)
    setup_from_config(config, console=False)
    yield config, log_file
    logger.remove()


def test_key_in_message_and_exception_is_masked_in_log_file(configured: tuple[ConfigurationService, Path]) -> None:
    _, log_file = configured
    logger.info("calling provider with key {}", KEY)
    try:
        raise RuntimeError(f"provider said: invalid key {KEY}")
    except RuntimeError:
        logger.exception("request failed")
    text = log_file.read_text(encoding="utf-8")
    assert KEY not in text
    assert "sk-p***wxyz" in text
    assert "RuntimeError: provider said: invalid key sk-p***wxyz" in text  # the traceback is still there


def test_key_set_later_is_masked_too(configured: tuple[ConfigurationService, Path]) -> None:
    config, log_file = configured
    other = "anthropic-secret-value-42"
    config.update_setting("api", "claude_key", other)
    logger.warning("oops {}", other)
    text = log_file.read_text(encoding="utf-8")
    assert other not in text
    assert "anth***e-42" in text


def test_log_format_is_the_seeds(configured: tuple[ConfigurationService, Path]) -> None:
    _, log_file = configured
    logger.info("hello")
    line = log_file.read_text(encoding="utf-8").strip().splitlines()[-1]
    # {time:YYYY-MM-DD HH:mm:ss} | {level} | {name}:{function}:{line} | {message}
    parts = line.split(" | ")
    assert len(parts) == 4
    assert parts[1] == "INFO"
    assert (
        parts[2].startswith("test_logging:test_log_format_is_the_seeds:") or "test_log_format_is_the_seeds" in parts[2]
    )
    assert parts[3] == "hello"


def test_level_from_config_applies(tmp_path: Path) -> None:
    log_file = tmp_path / "l.log"
    setup_logging("WARNING", log_file, console=False)
    logger.info("quiet")
    logger.warning("loud")
    logger.remove()
    text = log_file.read_text(encoding="utf-8")
    assert "loud" in text and "quiet" not in text


def test_redact_masks_key_shaped_strings_even_when_not_configured() -> None:
    text = redact("Incorrect API key provided: sk-abcdefghijklmnopqrstuvwxyz0123")
    assert "sk-abcdefghijklmnopqrstuvwxyz0123" not in text
    assert "sk-a***0123" in text


def test_stdlib_log_records_of_libraries_reach_the_log_masked(configured: tuple[ConfigurationService, Path]) -> None:
    """image-annotator-lib, httpx, openai ... log through `logging`: their warnings land in LoRAIro's log with
    the same key masking; their INFO chatter does not."""
    import logging

    _, log_file = configured
    logging.getLogger("image_annotator_lib.cloud.annotator").warning("provider echoed the key %s", KEY)
    logging.getLogger("httpx").info("HTTP Request: POST https://api.openai.com/v1/chat/completions 200")
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        logging.getLogger("openai").exception("request failed")
    text = log_file.read_text(encoding="utf-8")
    assert KEY not in text
    assert "image_annotator_lib.cloud.annotator: provider echoed the key sk-p***wxyz" in text
    assert "ValueError: bad key sk-p***wxyz" in text  # the traceback, masked
    assert "HTTP Request" not in text
    # The line names the library's module, not the bridge.
    line = next(li for li in text.splitlines() if "provider echoed" in li)
    assert "lorairo.utils.log" not in line and "| WARNING |" in line


def test_python_warnings_reach_the_log_not_the_terminal(tmp_path: Path) -> None:
    """Pillow warns ("Corrupt EXIF data", "Tag data larger than file") while a model's library decodes an image
    in `lorairo annotate`: the warning goes to the log file, not through the progress bar. A child interpreter,
    so pytest's own warning capture is not in the way."""
    import io
    import struct
    import subprocess
    import sys

    from PIL import Image

    tiff = b"II*\x00" + struct.pack("<IH", 8, 1) + struct.pack("<HHII", 0x010F, 2, 100, 1000) + struct.pack("<I", 0)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 20, 30)).save(buffer, "JPEG", exif=b"Exif\x00\x00" + tiff)
    photo, log_file = tmp_path / "exif.jpg", tmp_path / "lorairo.log"
    photo.write_bytes(buffer.getvalue())
    script = (
        "import sys\nfrom pathlib import Path\nfrom PIL import Image, ImageOps\n"
        "from lorairo.utils.log import setup_logging\n"
        "setup_logging('INFO', Path(sys.argv[2]), console=False)\n"
        "ImageOps.exif_transpose(Image.open(sys.argv[1]))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(photo), str(log_file)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "Tag data larger than file" not in done.stderr
    assert "Tag data larger than file" in log_file.read_text(encoding="utf-8")
