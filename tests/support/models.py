"""Register test models with LoRAIro the way a user would: TOML files beside the user's configuration.

`<config dir>/annotator_config.toml` and `<config dir>/available_api_models.toml` are read by
`configure_annotator_library()` on every (re)configuration, exactly as for a real user.
"""

from __future__ import annotations

import os
from pathlib import Path

from image_annotator_lib.testing.tiny_models import (
    MATTE_STYLES,
    TinyClip,
    TinyMatte,
    TinyWD,
    make_clip_embedder,
    make_matte_model,
    make_wd_tagger,
)


def config_dir() -> Path:
    folder = Path(os.environ["LORAIRO_CONFIG_PATH"]).parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def register_tiny_tagger(folder: Path, name: str = "tiny-wd", *, write_csv: bool = True) -> TinyWD:
    """A generated WD-format tagger (model.onnx + selected_tags.csv) registered under `name`."""
    tiny = make_wd_tagger(folder, write_csv=write_csv)
    with (config_dir() / "annotator_config.toml").open("a", encoding="utf-8") as fh:
        fh.write(
            f'[models."{name}"]\nkind = "tagger"\nframework = "wd-onnx"\nbatch_size = 4\n'
            f'[models."{name}".source]\nlocal_dir = "{folder.as_posix()}"\n'
            f'files = ["model.onnx", "selected_tags.csv"]\n'
            f'[models."{name}".options]\ngeneral_threshold = 0.35\ncharacter_threshold = 0.85\n\n'
        )
    return tiny


def register_tiny_clip(folder: Path, name: str = "tiny-clip", *, dim: int = 16) -> TinyClip:
    """A generated transformers.js-style CLIP (vision + text towers, tokenizer.json) registered under `name`."""
    tiny = make_clip_embedder(folder, dim=dim)
    with (config_dir() / "annotator_config.toml").open("a", encoding="utf-8") as fh:
        fh.write(
            f'[models."{name}"]\nkind = "embedding"\nframework = "clip-onnx"\nbatch_size = 2\n'
            f'[models."{name}".source]\nlocal_dir = "{folder.as_posix()}"\n'
            f'files = ["onnx/vision_model.onnx", "onnx/text_model.onnx", "tokenizer.json"]\n'
            f'[models."{name}".options]\npreprocess = "clip"\n\n'
        )
    return tiny


def register_loopback_cloud_model(base_url: str, name: str = "loopback-vlm") -> None:
    """An OpenAI-compatible server (like Ollama / LM Studio) at `base_url`, no key needed."""
    with (config_dir() / "available_api_models.toml").open("a", encoding="utf-8") as fh:
        fh.write(
            f'[models."{name}"]\nkind = "cloud"\nframework = "openai-compatible"\nprovider = "loopback"\n'
            f"batch_size = 8\n"
            f'[models."{name}".options]\nmodel_id = "llava-test"\nbase_url = "{base_url}"\n'
            f"api_key_required = false\nretry_backoff_base = 0.01\nretry_backoff_max = 0.05\ntimeout = 10\n"
            f"rate_limit_requests_per_minute = 0\nmax_concurrency = 2\n\n"
        )


def register_batch_cloud_model(base_url: str, name: str = "loopback-gpt") -> None:
    """An OpenAI model served by the loopback server, with Batch API support (needs `api.openai_key`)."""
    with (config_dir() / "available_api_models.toml").open("a", encoding="utf-8") as fh:
        fh.write(
            f'[models."{name}"]\nkind = "cloud"\nframework = "openai"\nprovider = "openai"\nbatch_size = 8\n'
            f'[models."{name}".options]\nmodel_id = "gpt-test"\nbase_url = "{base_url}"\nsupports_batch = true\n'
            f"retry_backoff_base = 0.01\ntimeout = 10\nrate_limit_requests_per_minute = 0\nmax_concurrency = 2\n\n"
        )


def register_tiny_matte(folder: Path, name: str = "tiny-rmbg", style: str = "rmbg", *, size: int = 32) -> TinyMatte:
    """A generated RMBG- or BiRefNet-shaped background-removal model registered under `name`."""
    tiny = make_matte_model(folder, style, size=size)
    options = MATTE_STYLES[style]["options"]
    with (config_dir() / "annotator_config.toml").open("a", encoding="utf-8") as fh:
        fh.write(
            f'[models."{name}"]\nkind = "matte"\nframework = "matte-onnx"\nbatch_size = 2\n'
            f'[models."{name}".source]\nlocal_dir = "{folder.as_posix()}"\nfiles = ["{tiny.model_file}"]\n'
            f'[models."{name}".options]\nmean = {options["mean"]}\nstd = {options["std"]}\n'
            f'output = "{options["output"]}"\nactivation = "{options["activation"]}"\n'
            f'rescale = "{options["rescale"]}"\n\n'
        )
    return tiny
