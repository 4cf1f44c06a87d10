"""Download a vocabulary file (URL or Hugging Face dataset) into the data directory and import it.

Sources are either a preset name (see :data:`PRESETS`), an ``http(s)://`` URL, or
``hf://datasets/<owner>/<repo>/<path/in/repo.csv>[@revision]``. Files land atomically: they are written to a
temporary file in the target folder and renamed into place only when complete, so an interrupted download
never leaves a half-written vocabulary behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO
from urllib.parse import urlparse

from .errors import DownloadError
from .paths import downloads_dir

if TYPE_CHECKING:
    from .database import TagDatabase
    from .importers import ImportReport

_TAGCOMPLETE_RAW = "https://raw.githubusercontent.com/DominikDoom/a1111-sd-webui-tagcomplete/main/tags/"

#: Named sources: the MIT-licensed lists shipped by a1111-sd-webui-tagcomplete.
PRESETS: dict[str, str] = {
    "danbooru": _TAGCOMPLETE_RAW + "danbooru.csv",
    "e621": _TAGCOMPLETE_RAW + "e621.csv",
}

#: Environment variable with a URL (or hf:// spec) used when no source is given.
SOURCE_ENV = "GENAI_TAG_DB_SOURCE"

_OFFLINE_HINT = "import a local file with `tag-db import FILE` instead"


@dataclass(frozen=True)
class HfSource:
    """A file in a Hugging Face dataset repository."""

    repo_id: str
    filename: str
    revision: str | None = None


def parse_source(source: str) -> str | HfSource:
    """Turn a preset name, URL or ``hf://datasets/owner/repo/file[@rev]`` spec into a URL or :class:`HfSource`.

    Raises:
        DownloadError: The source is none of those.
    """
    source = source.strip()
    if source in PRESETS:
        return PRESETS[source]
    if source.startswith("hf://"):
        spec = source[len("hf://") :]
        if spec.startswith("datasets/"):
            spec = spec[len("datasets/") :]
        revision = None
        if "@" in spec:
            spec, revision = spec.rsplit("@", 1)
        parts = spec.split("/")
        if len(parts) < 3 or not all(parts):
            raise DownloadError(f"bad Hugging Face source {source!r}; expected hf://datasets/OWNER/REPO/FILE[@REV]")
        return HfSource("/".join(parts[:2]), "/".join(parts[2:]), revision or None)
    parsed = urlparse(source)
    if parsed.scheme in ("http", "https") and parsed.netloc:
        return source
    raise DownloadError(
        f"unknown vocabulary source {source!r}; use {', '.join(PRESETS)}, an http(s) URL or hf://datasets/..."
    )


def _atomic_copy_into(folder: Path, name: str, write: Callable[[BinaryIO], None]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        target = folder / name
        tmp.replace(target)
        return target
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _download_url(url: str, folder: Path, filename: str | None, timeout: float) -> Path:
    import httpx

    name = filename or Path(urlparse(url).path).name or "vocabulary.csv"
    host = urlparse(url).netloc

    def write(fh: BinaryIO) -> None:
        with httpx.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            if response.status_code >= 400:
                raise DownloadError(f"download of {url} failed: HTTP {response.status_code}")
            for chunk in response.iter_bytes(1 << 16):
                fh.write(chunk)

    try:
        return _atomic_copy_into(folder, name, write)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.NetworkError) as exc:
        raise DownloadError(f"cannot reach {host} (offline or blocked: {type(exc).__name__}); {_OFFLINE_HINT}") from exc
    except httpx.HTTPError as exc:
        raise DownloadError(f"download of {url} failed: {exc}") from exc


def _download_hf(src: HfSource, folder: Path, filename: str | None, timeout: float, endpoint: str | None) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    where = f"{src.repo_id}/{src.filename}" + (f"@{src.revision}" if src.revision else "")
    _check_reachable(endpoint or "https://huggingface.co", where, timeout)
    try:
        cached = hf_hub_download(
            repo_id=src.repo_id,
            filename=src.filename,
            repo_type="dataset",
            revision=src.revision,
            cache_dir=folder / ".hf-cache",
            endpoint=endpoint,
            etag_timeout=timeout,
        )
    except LocalEntryNotFoundError as exc:
        # Raised when the Hub cannot be reached and the file is not cached.
        raise DownloadError(
            f"cannot reach the Hugging Face Hub for {where} (offline or blocked); {_OFFLINE_HINT}"
        ) from exc
    except (RepositoryNotFoundError, RevisionNotFoundError, EntryNotFoundError) as exc:
        raise DownloadError(f"Hugging Face dataset file {where} not found") from exc
    except HfHubHTTPError as exc:
        raise DownloadError(f"download of {where} from the Hugging Face Hub failed: {exc}".splitlines()[0]) from exc
    except OSError as exc:
        raise DownloadError(f"cannot reach the Hugging Face Hub for {where}: {exc}; {_OFFLINE_HINT}") from exc

    def write(fh: BinaryIO) -> None:
        with open(cached, "rb") as source:
            shutil.copyfileobj(source, fh)

    return _atomic_copy_into(folder, filename or Path(src.filename).name, write)


def _check_reachable(endpoint: str, where: str, timeout: float) -> None:
    """Fail fast when the Hub cannot be reached.

    hf_hub_download retries unreachable hosts with back-off (about 20 s) before giving up; one quick probe
    lets an offline user get the message at once. Any HTTP answer, even an error status, counts as reachable.
    """
    import httpx

    try:
        httpx.head(endpoint, timeout=min(timeout, 5.0))
    except httpx.TransportError as exc:
        host = urlparse(endpoint).netloc
        raise DownloadError(
            f"cannot reach the Hugging Face Hub at {host} for {where} (offline or blocked: "
            f"{type(exc).__name__}); {_OFFLINE_HINT}"
        ) from exc


def download_vocabulary(
    source: str | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    filename: str | None = None,
    timeout: float = 30.0,
    hf_endpoint: str | None = None,
) -> Path:
    """Download a vocabulary file into ``<data_dir>/downloads`` and return its path.

    Args:
        source: Preset name, URL or ``hf://datasets/...`` spec; default ``$GENAI_TAG_DB_SOURCE`` or ``danbooru``.
        data_dir: Data directory (default ``$GENAI_TAG_DB_DIR`` or the user data dir).
        filename: Name to save under (default: the source's file name).
        timeout: Network timeout in seconds.
        hf_endpoint: Hub endpoint (default ``$HF_ENDPOINT`` or huggingface.co).

    Raises:
        DownloadError: Offline, server error or bad source; the message is one line.
    """
    spec = parse_source(source or os.environ.get(SOURCE_ENV) or "danbooru")
    folder = downloads_dir(data_dir)
    if isinstance(spec, HfSource):
        return _download_hf(spec, folder, filename, timeout, hf_endpoint)
    return _download_url(spec, folder, filename, timeout)


def download_and_import(
    db: TagDatabase,
    source: str | None = None,
    *,
    kind: str | None = None,
    format_name: str | None = None,
    timeout: float = 30.0,
    hf_endpoint: str | None = None,
) -> tuple[Path, ImportReport]:
    """Download a vocabulary into the database's data directory, then import it.

    The format defaults to the preset name, else it is guessed from the file name (see
    :meth:`TagDatabase.import_file`).
    """
    path = download_vocabulary(source, data_dir=db.data_dir, timeout=timeout, hf_endpoint=hf_endpoint)
    if format_name is None and source in PRESETS:
        format_name = source
    return path, db.import_file(path, kind=kind, format_name=format_name)
