"""Push an exported folder to the Hugging Face Hub as a dataset repository (``huggingface_hub``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from lorairo.exceptions import ExportError
from lorairo.services.configuration_service import ConfigurationService
from lorairo.utils.log import redact


@dataclass(frozen=True)
class HubPushResult:
    repo_id: str
    repo_url: str
    commit_url: str
    files: int


def resolve_repo_id(config: ConfigurationService, repo_id: str | None) -> str:
    """``repo_id`` as given, else ``<huggingface.hf_username>/<huggingface.repo_name>`` from the config."""
    if repo_id:
        if repo_id.count("/") != 1 or not all(repo_id.split("/")):
            raise ExportError(f"Hugging Face repo id {repo_id!r} must look like 'user/name'")
        return repo_id
    user = str(config.get("huggingface.hf_username") or "").strip()
    name = str(config.get("huggingface.repo_name") or "").strip()
    if not user or not name:
        raise ExportError(
            "set huggingface.hf_username and huggingface.repo_name (lorairo config set ...) or give a repo id"
        )
    return f"{user}/{name}"


def push_folder(
    folder: Path,
    config: ConfigurationService,
    *,
    repo_id: str | None = None,
    token: str | None = None,
    endpoint: str | None = None,
    private: bool | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> HubPushResult:
    """Create the dataset repo if needed (``exist_ok``) and upload ``folder`` in one commit.

    Args:
        folder: An exported dataset folder.
        config: Supplies ``huggingface.token`` / ``hf_username`` / ``repo_name`` when not given.
        repo_id: ``user/name``; default from the config.
        token: Overrides ``huggingface.token``.
        endpoint: Hub URL (a mirror, or a loopback server in tests); default: huggingface_hub's (HF_ENDPOINT).
        private: Visibility of a newly created repo (ignored when it exists).

    Raises:
        ExportError: no token, bad repo id, a missing folder, or the Hub refused (message without the token).
    """
    from huggingface_hub import HfApi  # heavy: only when pushing
    from huggingface_hub.errors import HfHubHTTPError

    folder = Path(folder)
    if not folder.is_dir() or not any(folder.iterdir()):
        raise ExportError(f"nothing to push: {folder} is not an exported folder")
    repo = resolve_repo_id(config, repo_id)
    secret = token or str(config.get("huggingface.token") or "")
    if not secret:
        raise ExportError("no Hugging Face token: set huggingface.token (lorairo config set huggingface.token ...)")
    files = sum(1 for p in folder.rglob("*") if p.is_file())
    if progress is not None:
        progress(0, 1, f"uploading {files} files to {repo}")
    api = HfApi(endpoint=endpoint, token=secret)
    try:
        url = api.create_repo(repo, repo_type="dataset", exist_ok=True, private=private)
        commit = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo,
            repo_type="dataset",
            commit_message=f"Upload dataset exported by LoRAIro ({files} files)",
        )
    except HfHubHTTPError as exc:
        raise ExportError(f"Hugging Face refused the upload to {repo}: {redact(str(exc))}") from exc
    except ValueError as exc:  # e.g. the Hub rejected the dataset card's YAML
        raise ExportError(f"Hugging Face rejected the upload to {repo}: {redact(str(exc))}") from exc
    except OSError as exc:
        raise ExportError(f"could not reach the Hugging Face Hub for {repo}: {redact(str(exc))}") from exc
    if progress is not None:
        progress(1, 1, f"uploaded to {repo}")
    logger.info("Pushed {} files from {} to dataset {}", files, folder, repo)
    return HubPushResult(repo_id=repo, repo_url=str(url), commit_url=str(commit.commit_url), files=files)
