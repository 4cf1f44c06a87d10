"""Files beside the images: sd-scripts ``dataset_config.toml``, kohya metadata JSON / JSONL, HF metadata.jsonl.

The TOML is built with tomlkit (strings quoted and escaped correctly, Windows paths included) and always
carries the caption extension actually written, so training finds the captions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit

from lorairo.services.export.captions import KEEP_TOKENS_SEPARATOR
from lorairo.services.export.options import ExportOptions

CONFIG_NAME = "dataset_config.toml"


@dataclass(frozen=True)
class SubsetSpec:
    """One ``[[datasets.subsets]]`` entry. Paths are absolute paths of the final (moved-into-place) folders."""

    image_dir: Path
    metadata_file: Path | None = None
    alpha_mask: bool = False


def dataset_config_toml(options: ExportOptions, subset: SubsetSpec, keep_tokens: int) -> str:
    """Return the text of ``dataset_config.toml`` for one export."""
    doc = tomlkit.document()
    doc.add(tomlkit.comment("Written by LoRAIro. Train with: --dataset_config dataset_config.toml"))
    general = tomlkit.table()
    # Shuffling reorders comma-separated chunks: right for tag lists, wrong for sentences (they would be cut up).
    general.add("shuffle_caption", options.shuffle_caption and options.caption_mode == "tags")
    if subset.metadata_file is None:
        # Sidecar captions: training must look for exactly the extension written. (Metadata exports carry the
        # captions in the JSON, and sd-scripts' fine-tuning schema refuses a caption_extension key.)
        general.add("caption_extension", options.caption_extension)
    if options.use_keep_tokens_separator:
        general.add("keep_tokens_separator", KEEP_TOKENS_SEPARATOR)  # never together with keep_tokens
    else:
        general.add("keep_tokens", keep_tokens)
    if options.wildcard:
        general.add("enable_wildcard", True)  # caption files hold variant lines; one is picked per step
    doc.add("general", general)

    dataset = tomlkit.table()
    settings = options.bucket_settings
    resolution = options.resolution if options.resolution is not None else 1024
    dataset.add("resolution", resolution)
    dataset.add("batch_size", options.batch_size)
    dataset.add("enable_bucket", True)
    dataset.add("min_bucket_reso", settings.min_bucket_reso if settings else options.min_bucket_reso)
    dataset.add("max_bucket_reso", settings.max_bucket_reso if settings else options.max_bucket_reso)
    dataset.add("bucket_reso_steps", options.bucket_reso_steps)
    dataset.add("bucket_no_upscale", options.bucket_no_upscale)

    sub = tomlkit.table()
    sub.add("image_dir", str(subset.image_dir))
    if subset.metadata_file is not None:
        sub.add("metadata_file", str(subset.metadata_file))
    sub.add("num_repeats", options.repeats)
    if subset.metadata_file is None:
        sub.add("class_tokens", options.class_tokens or " ".join(options.trigger_words))
        sub.add("is_reg", False)
    sub.add("caption_dropout_rate", options.caption_dropout_rate)
    sub.add("flip_aug", options.flip_aug)
    sub.add("alpha_mask", subset.alpha_mask)
    subsets = tomlkit.aot()
    subsets.append(sub)
    dataset.add("subsets", subsets)
    datasets = tomlkit.aot()
    datasets.append(dataset)
    doc.add("datasets", datasets)
    return tomlkit.dumps(doc)


@dataclass(frozen=True)
class MetadataRow:
    image_path: Path  # absolute final path
    caption: str
    tags: str
    size: tuple[int, int]


def kohya_metadata_json(rows: Iterable[MetadataRow]) -> str:
    """``{ "<absolute image path>": {"caption", "tags", "image_size": [w, h]} }`` (sd-scripts fine-tuning)."""
    data = {
        str(r.image_path): {"caption": r.caption, "tags": r.tags, "image_size": [r.size[0], r.size[1]]} for r in rows
    }
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def kohya_metadata_jsonl(rows: Iterable[MetadataRow]) -> str:
    """One ``{"image_path", "caption", "tags", "image_size"}`` object per line."""
    return "".join(
        json.dumps(
            {"image_path": str(r.image_path), "caption": r.caption, "tags": r.tags, "image_size": list(r.size)},
            ensure_ascii=False,
        )
        + "\n"
        for r in rows
    )


def hf_metadata_jsonl(rows: Iterable[Mapping[str, Any]]) -> str:
    """``datasets`` imagefolder metadata: one object per image with ``file_name`` relative to this file."""
    return "".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in rows)


def hf_dataset_card(title: str, count: int, trigger_words: Iterable[str]) -> str:
    """A short README.md so the Hub shows what the dataset is and how to load it."""
    triggers = ", ".join(trigger_words) or "(none)"
    return (
        "---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: train/*\n"
        "task_categories:\n- text-to-image\n---\n\n"
        f"# {title}\n\n{count} images with captions, exported by LoRAIro as a Hugging Face `imagefolder` "
        "(`train/metadata.jsonl`: `file_name`, `text`, `tags`, `caption`, `rating`, `aesthetic_score`).\n\n"
        f"Trigger words: {triggers}\n\n"
        '```python\nfrom datasets import load_dataset\nds = load_dataset("imagefolder", data_dir="train")\n```\n'
    )
