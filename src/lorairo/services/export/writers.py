"""Files beside the images: sd-scripts ``dataset_config.toml``, kohya metadata JSON / JSONL, HF metadata.jsonl.

The TOML is built with tomlkit (strings quoted and escaped correctly, Windows paths included) and always
carries the caption extension actually written, so training finds the captions.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

import tomlkit

from lorairo.services.export.captions import KEEP_TOKENS_SEPARATOR, SECONDARY_SEPARATOR
from lorairo.services.export.options import ExportOptions

CONFIG_NAME = "dataset_config.toml"


@dataclass(frozen=True)
class SubsetSpec:
    """One ``[[datasets.subsets]]`` entry: the folders as they are written (absolute, or relative to the TOML)."""

    image_dir: str
    metadata_file: str | None = None
    alpha_mask: bool = False
    protected_sentences: bool = False  # some caption holds a sentence joined by SECONDARY_SEPARATOR


def dataset_config_toml(options: ExportOptions, subset: SubsetSpec, keep_tokens: int) -> str:
    """Return the text of ``dataset_config.toml`` for one export.

    Only what the export decided or the user set is written: every key here overrides the trainer's command
    line (a ``batch_size = 1`` would silently replace ``--train_batch_size``). The keys are those all of
    sd-scripts' trainers accept (LoRA, DreamBooth, fine-tuning, textual inversion): a metadata export carries no
    ``caption_extension`` / ``class_tokens`` (the fine-tuning schema refuses them) and ``caption_dropout_rate``
    is written only when the user asked for it (textual inversion refuses it).
    """
    doc = tomlkit.document()
    doc.add(tomlkit.comment("Written by LoRAIro. Train with: --dataset_config dataset_config.toml"))
    if options.relative_paths:
        doc.add(tomlkit.comment("Paths are relative to this folder: start the trainer from here (cd into it)."))
    general = tomlkit.table()
    if options.shuffle_caption is not None:
        general.add("shuffle_caption", options.shuffle_caption)
    if subset.metadata_file is None:
        # Sidecar captions: training must look for exactly the extension written.
        general.add("caption_extension", options.caption_extension)
    if options.use_keep_tokens_separator:
        general.add("keep_tokens_separator", KEEP_TOKENS_SEPARATOR)  # never together with keep_tokens
    elif keep_tokens:
        general.add("keep_tokens", keep_tokens)
    if subset.protected_sentences:
        general.add("secondary_separator", SECONDARY_SEPARATOR)  # a sentence is one unit; read back as ", "
    if options.wildcard:
        general.add("enable_wildcard", True)  # caption files hold variant lines; one is picked per step
    if options.caption_dropout_rate is not None:
        general.add("caption_dropout_rate", options.caption_dropout_rate)
    if options.flip_aug:
        general.add("flip_aug", True)
    doc.add("general", general)

    dataset = tomlkit.table()
    settings = options.bucket_settings
    if settings is not None:
        # The images are already on these buckets; the same settings make sd-scripts keep them as they are.
        dataset.add("resolution", settings.resolution[0])
        dataset.add("enable_bucket", True)
        dataset.add("min_bucket_reso", settings.min_bucket_reso)
        dataset.add("max_bucket_reso", settings.max_bucket_reso)
        dataset.add("bucket_reso_steps", settings.bucket_reso_steps)
        if settings.bucket_no_upscale:
            dataset.add("bucket_no_upscale", True)
    else:
        dataset.add("enable_bucket", True)  # original sizes: the trainer's --resolution decides the buckets
    if options.batch_size is not None:
        dataset.add("batch_size", options.batch_size)

    sub = tomlkit.table()
    sub.add("image_dir", subset.image_dir)
    if subset.metadata_file is not None:
        sub.add("metadata_file", subset.metadata_file)
    sub.add("num_repeats", options.repeats)
    if subset.metadata_file is None:
        class_tokens = options.class_tokens or " ".join(options.trigger_words)
        if class_tokens:
            sub.add("class_tokens", class_tokens)
    if subset.alpha_mask:
        sub.add("alpha_mask", True)
    subsets = tomlkit.aot()
    subsets.append(sub)
    dataset.add("subsets", subsets)
    datasets = tomlkit.aot()
    datasets.append(dataset)
    doc.add("datasets", datasets)
    return tomlkit.dumps(doc)


@dataclass(frozen=True)
class MetadataRow:
    image_path: str  # absolute final path, or relative to the TOML's folder
    caption: str
    tags: str
    size: tuple[int, int]


def kohya_metadata_json(rows: Iterable[MetadataRow]) -> str:
    """``{ "<absolute image path>": {"caption", "tags", "image_size": [w, h]} }`` (sd-scripts fine-tuning)."""
    data = {r.image_path: _kohya_entry(r) for r in rows}
    return json.dumps(data, ensure_ascii=False, indent=2) + "\n"


def _kohya_entry(r: MetadataRow) -> dict[str, Any]:
    return {"caption": r.caption, "tags": r.tags, "image_size": [r.size[0], r.size[1]]}


def write_json_object(out: TextIO, entries: Iterable[tuple[str, Any]]) -> None:
    """Write ``{key: value, ...}`` one entry at a time, byte for byte what ``json.dumps(dict(entries),
    ensure_ascii=False, indent=2) + "\n"`` gives (keys must be unique), without the dict in memory."""
    first = True
    out.write("{")
    for key, value in entries:
        one = json.dumps({key: value}, ensure_ascii=False, indent=2)  # '{\n  "key": ...\n}'
        out.write(("\n" if first else ",\n") + one[2:-2])
        first = False
    out.write("}\n" if first else "\n}\n")


def write_kohya_metadata_json(out: TextIO, rows: Iterable[MetadataRow]) -> None:
    """`kohya_metadata_json`, streamed to `out` (an export of 500k images never holds its rows)."""
    write_json_object(out, ((r.image_path, _kohya_entry(r)) for r in rows))


def _kohya_line(r: MetadataRow) -> str:
    return (
        json.dumps(
            {"image_path": r.image_path, "caption": r.caption, "tags": r.tags, "image_size": list(r.size)},
            ensure_ascii=False,
        )
        + "\n"
    )


def kohya_metadata_jsonl(rows: Iterable[MetadataRow]) -> str:
    """One ``{"image_path", "caption", "tags", "image_size"}`` object per line."""
    return "".join(_kohya_line(r) for r in rows)


def write_kohya_metadata_jsonl(out: TextIO, rows: Iterable[MetadataRow]) -> None:
    for r in rows:
        out.write(_kohya_line(r))


def hf_metadata_jsonl(rows: Iterable[Mapping[str, Any]]) -> str:
    """``datasets`` imagefolder metadata: one object per image with ``file_name`` relative to this file."""
    return "".join(json.dumps(dict(r), ensure_ascii=False) + "\n" for r in rows)


def write_hf_metadata_jsonl(out: TextIO, rows: Iterable[Mapping[str, Any]]) -> None:
    for r in rows:
        out.write(json.dumps(dict(r), ensure_ascii=False) + "\n")


#: The imagefolder files of the one split, named explicitly: without it ``datasets`` infers splits from file and
#: folder names, so ``test_1.png`` or ``my-train.png`` would be moved into a test / train split of their own.
HF_DATA_FILES = "train/**"


def hf_dataset_card(title: str, count: int, trigger_words: Iterable[str]) -> str:
    """A short README.md so the Hub shows what the dataset is and how to load it (split named explicitly)."""
    triggers = ", ".join(trigger_words) or "(none)"
    return (
        f"---\nconfigs:\n- config_name: default\n  data_files:\n  - split: train\n    path: {HF_DATA_FILES}\n"
        "task_categories:\n- text-to-image\n---\n\n"
        f"# {title}\n\n{count} images with captions, exported by LoRAIro as a Hugging Face `imagefolder` "
        "(`train/metadata.jsonl`: `file_name`, `text`, `tags`, `caption`, `rating`, `aesthetic_score`).\n\n"
        f"Trigger words: {triggers}\n\n"
        "Load it from this folder (or pass the Hub repo id instead of the folder path once pushed):\n\n"
        "```python\nfrom datasets import load_dataset\n"
        f'ds = load_dataset("imagefolder", data_dir=".", data_files={{"train": "{HF_DATA_FILES}"}}, split="train")\n'
        "```\n"
    )
