"""The commands messages tell a user to run: fetch a model's files, install an optional extra.

The library's own wording names its own CLI and package. An application embedding it (LoRAIro) names its own
commands instead, so a user reading a message in that application is told what works there.
"""

from __future__ import annotations

import threading

_DEFAULT_DOWNLOAD = "python -m image_annotator_lib download {name}"
_DEFAULT_EXTRA = "pip install 'image-annotator-lib[{extra}]'"
_lock = threading.Lock()
_download = _DEFAULT_DOWNLOAD
_extra = _DEFAULT_EXTRA


def _check(template: str | None, placeholder: str) -> None:
    if template is not None and placeholder not in template:
        raise ValueError(f"command template needs a {placeholder} placeholder, got {template!r}")


def set_download_command(template: str | None) -> None:
    """The command that downloads a model, `{name}` standing for the model (None: the library's own CLI)."""
    global _download
    _check(template, "{name}")
    with _lock:
        _download = template or _DEFAULT_DOWNLOAD


def set_extra_install_command(template: str | None) -> None:
    """The command that installs an optional extra, `{extra}` standing for it (None: pip and this package)."""
    global _extra
    _check(template, "{extra}")
    with _lock:
        _extra = template or _DEFAULT_EXTRA


def download_command(name: str) -> str:
    return _download.replace("{name}", name)


def extra_install_command(extra: str) -> str:
    return _extra.replace("{extra}", extra)
