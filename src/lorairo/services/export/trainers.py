"""Configs and notes for SimpleTuner, ai-toolkit, diffusion-pipe and musubi-tuner exports (issue 17).

Each writer returns text built with the field's library (json, PyYAML, tomlkit) and holds only the keys the
trainer documents for a dataset; paths name the written folders (absolute, or relative to the config when
``relative_paths``). The layout they point at: ``images/`` (images and ``<stem>.txt`` captions), ``masks/``
(same stems) when masks were exported, ``cache/`` for the trainer's latents where it needs a folder.

What each trainer reads (their own docs, restated):

* SimpleTuner ``multidatabackend.json``: a list of backends; the image backend reads ``<stem>.txt`` beside each
  image (``caption_strategy: textfile``; every line is a caption unless ``disable_multiline_split``), ``repeats``
  counts *extra* passes (kohya's ``num_repeats - 1``), a mask is a ``conditioning`` backend of
  ``conditioning_type: mask`` whose files carry the image's file names, linked by ``conditioning_data``.
* ai-toolkit: a ``datasets:`` entry of the training YAML; ``folder_path`` with images and ``<stem>.<caption_ext>``,
  ``mask_path`` a folder of masks with the same stems (white = more loss).
* diffusion-pipe ``dataset.toml``: ``[[directory]]`` folders; every file in ``path`` that is not ``.txt`` /
  ``.json`` / ``.npz`` is read as an image, so nothing else may sit there; ``captions.json`` (file name -> list of
  captions) replaces the ``.txt`` files when present.
* musubi-tuner dataset TOML: ``[general]`` defaults and ``[[datasets]]`` with a ``cache_directory`` that must
  differ per dataset; or ``image_jsonl_file`` with ``{"image_path", "caption"}`` per line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TextIO

import tomlkit
import yaml

from lorairo.services.export.options import ExportOptions
from lorairo.services.export.writers import write_json_object

SIMPLETUNER_CONFIG = "multidatabackend.json"
AI_TOOLKIT_CONFIG = "dataset.yaml"
DIFFUSION_PIPE_CONFIG = "dataset.toml"
MUSUBI_CONFIG = "dataset.toml"
MUSUBI_JSONL = "metadata.jsonl"
CAPTIONS_JSON = "captions.json"
NOTES_NAME = "README_TRAINING.md"

CONFIG_NAMES = {
    "simpletuner": SIMPLETUNER_CONFIG,
    "ai-toolkit": AI_TOOLKIT_CONFIG,
    "diffusion-pipe": DIFFUSION_PIPE_CONFIG,
    "musubi": MUSUBI_CONFIG,
}

#: diffusion-pipe's documented example range, widened to hold every exported image's aspect ratio.
_DP_MIN_AR = 0.5
_DP_MAX_AR = 2.0
_DP_NUM_AR_BUCKETS = 7


@dataclass(frozen=True)
class TrainerPaths:
    """The folders as the config names them."""

    images: str
    masks: str | None
    cache: str  # SimpleTuner: cache root (vae/ and text/ inside); musubi: the dataset's cache_directory
    jsonl: str | None = None  # musubi image_jsonl_file


def base_resolution(options: ExportOptions) -> int:
    """The training resolution the config names: the export's bucket resolution, 1024 at original sizes."""
    return options.resolution or 1024


def simpletuner_config(options: ExportOptions, paths: TrainerPaths, *, multiline: bool, keep_tokens: int) -> str:
    """``multidatabackend.json``: the image backend, the mask backend when masks were written, the text embeds."""
    resolution = base_resolution(options)
    image_backend: dict[str, object] = {
        "id": "lorairo-images",
        "type": "local",
        "dataset_type": "image",
        "instance_data_dir": paths.images,
        "cache_dir_vae": f"{paths.cache}/vae",
        "caption_strategy": "textfile",
        # pixel_area: the resolution is the side of a square of the same area, as kohya's resolution is; the
        # minimum image size is in the same unit.
        "resolution": resolution,
        "resolution_type": "pixel_area",
        "minimum_image_size": min(options.min_bucket_reso, resolution),
        "repeats": options.repeats - 1,  # SimpleTuner counts the extra passes; kohya counts all of them
        "crop": False,  # the export already applied the user's crops; SimpleTuner's buckets keep the aspect
    }
    if not multiline:
        image_backend["disable_multiline_split"] = True
    backends: list[dict[str, object]] = [image_backend]
    if paths.masks is not None:
        image_backend["conditioning_data"] = "lorairo-masks"
        backends.append(
            {
                "id": "lorairo-masks",
                "type": "local",
                "dataset_type": "conditioning",
                "conditioning_type": "mask",
                # Pixel alignment: SimpleTuner copies the image backend's bucket metadata onto the masks.
                "source_dataset_id": "lorairo-images",
                "instance_data_dir": paths.masks,
                "resolution": resolution,
                "resolution_type": "pixel_area",
                "minimum_image_size": min(options.min_bucket_reso, resolution),
                "crop": False,
            }
        )
    backends.append(
        {
            "id": "lorairo-text-embeds",
            "type": "local",
            "dataset_type": "text_embeds",
            "default": True,
            "cache_dir": f"{paths.cache}/text",
        }
    )
    del keep_tokens  # SimpleTuner has no keep_tokens in the dataloader: trigger words are written first instead
    return json.dumps(backends, ensure_ascii=False, indent=2) + "\n"


def ai_toolkit_config(options: ExportOptions, paths: TrainerPaths, *, keep_tokens: int) -> str:
    """The ``datasets:`` entry of an ai-toolkit training config, to paste under ``config.process[0]``."""
    entry: dict[str, object] = {
        "folder_path": paths.images,
        "caption_ext": options.caption_extension.lstrip("."),
        "resolution": [base_resolution(options)],
        "num_repeats": options.repeats,
    }
    if keep_tokens:
        entry["keep_tokens"] = keep_tokens
    if paths.masks is not None:
        entry["mask_path"] = paths.masks
    header = (
        "# Written by LoRAIro: paste this under config.process[0] of your ai-toolkit training YAML.\n"
        "# Trigger words are already written first in every caption (leave trigger_word unset, or set the same).\n"
    )
    return header + yaml.safe_dump({"datasets": [entry]}, sort_keys=False, allow_unicode=True)


def aspect_range(sizes: Iterable[tuple[int, int]]) -> tuple[float, float]:
    """diffusion-pipe's ``min_ar`` / ``max_ar``: its example range widened to the exported images' ratios."""
    low, high = _DP_MIN_AR, _DP_MAX_AR
    for w, h in sizes:  # one pass, no list: an export streams its sizes
        if h > 0:
            ratio = w / h
            low = min(low, ratio)
            high = max(high, ratio)
    return round(low, 3), round(high, 3)


def diffusion_pipe_config(options: ExportOptions, paths: TrainerPaths, sizes: Iterable[tuple[int, int]]) -> str:
    doc = tomlkit.document()
    doc.add(tomlkit.comment("Written by LoRAIro. Name this file as `dataset` in your diffusion-pipe training TOML."))
    doc.add("resolutions", [base_resolution(options)])
    doc.add("enable_ar_bucket", True)
    low, high = aspect_range(sizes)
    doc.add("min_ar", low)
    doc.add("max_ar", high)
    doc.add("num_ar_buckets", _DP_NUM_AR_BUCKETS)
    directory = tomlkit.table()
    directory.add("path", paths.images)
    directory.add("num_repeats", options.repeats)
    if paths.masks is not None:
        directory.add("mask_path", paths.masks)
    directories = tomlkit.aot()
    directories.append(directory)
    doc.add("directory", directories)
    return tomlkit.dumps(doc)


def diffusion_pipe_captions(captions: Mapping[str, Sequence[str]]) -> str:
    """``captions.json``: image file name -> list of captions (one is picked per step)."""
    return json.dumps({k: list(v) for k, v in captions.items()}, ensure_ascii=False, indent=2) + "\n"


def write_diffusion_pipe_captions(out: TextIO, captions: Iterable[tuple[str, Sequence[str]]]) -> None:
    """`diffusion_pipe_captions`, streamed to `out` one image at a time."""
    write_json_object(out, ((name, list(lines)) for name, lines in captions))


def musubi_config(options: ExportOptions, paths: TrainerPaths) -> str:
    doc = tomlkit.document()
    doc.add(
        tomlkit.comment("Written by LoRAIro. Pass it with --dataset_config to musubi-tuner's cache and train scripts.")
    )
    general = tomlkit.table()
    resolution = base_resolution(options)
    general.add("resolution", [resolution, resolution])
    if paths.jsonl is None:
        general.add("caption_extension", options.caption_extension)
    if options.batch_size is not None:
        general.add("batch_size", options.batch_size)
    general.add("enable_bucket", True)
    general.add("bucket_no_upscale", options.bucket_no_upscale)
    doc.add("general", general)
    dataset = tomlkit.table()
    if paths.jsonl is None:
        dataset.add("image_directory", paths.images)
    else:
        dataset.add("image_jsonl_file", paths.jsonl)
    dataset.add("cache_directory", paths.cache)
    dataset.add("num_repeats", options.repeats)
    datasets = tomlkit.aot()
    datasets.append(dataset)
    doc.add("datasets", datasets)
    return tomlkit.dumps(doc)


def musubi_jsonl(rows: Iterable[tuple[str, str]]) -> str:
    """One ``{"image_path", "caption"}`` object per line."""
    return "".join(
        json.dumps({"image_path": path, "caption": caption}, ensure_ascii=False) + "\n" for path, caption in rows
    )


def write_musubi_jsonl(out: TextIO, rows: Iterable[tuple[str, str]]) -> None:
    for path, caption in rows:
        out.write(json.dumps({"image_path": path, "caption": caption}, ensure_ascii=False) + "\n")


def training_note(
    fmt: str,
    *,
    count: int,
    masks: int,
    cropped: int,
    captions_per_image: str,
    relative: bool,
    masks_dropped: int = 0,
) -> str:
    """README_TRAINING.md: what is in the folder and the command that trains on it."""
    where = (
        "Paths in the config are relative to this folder: start the trainer from here.\n"
        if relative
        else "Paths in the config are absolute: move the folder and export again (or use --relative-paths).\n"
    )
    common = (
        f"{count} images in `images/` with `<stem>.txt` captions ({captions_per_image})"
        + (f", {masks} masks in `masks/` (same stems, white = train on this)" if masks else "")
        + (f"; {cropped} images were cropped as set in LoRAIro (masks cropped the same way)" if cropped else "")
        + ".\n\n"
        + where
    )
    steps = {
        "simpletuner": (
            "# Train with SimpleTuner\n\n" + common + "\n1. Point your SimpleTuner `config.json` at this backend file: "
            '`"data_backend_config": "<this folder>/multidatabackend.json"`.\n'
            "2. Run `simpletuner train` (or `./train.sh`) as usual; the VAE and text caches go to `cache/`.\n"
            + (
                "3. Masked loss: the `lorairo-masks` conditioning backend is linked by `conditioning_data`; "
                "set `--masked_loss_probability 1.0` in config.json.\n"
                if masks
                else ""
            )
        ),
        "ai-toolkit": (
            "# Train with ai-toolkit\n\n"
            + common
            + "\n1. Copy the `datasets:` entry of `dataset.yaml` into your training config "
            "(`config.process[0].datasets`).\n"
            "2. Run `python run.py <your config>.yaml`.\n"
            "Images are jpg / png only (ai-toolkit skips other files); trigger words are already in every caption.\n"
        ),
        "diffusion-pipe": (
            "# Train with diffusion-pipe\n\n"
            + common
            + "\n1. In your training TOML set `dataset = '<this folder>/dataset.toml'`.\n"
            "2. Run `deepspeed --num_gpus=1 train.py --deepspeed --config <your config>.toml`.\n"
            "Keep `images/` as it is: diffusion-pipe reads every other file there as an image. When an image has "
            "several captions they are in `images/captions.json` (file name -> list); one is used per step.\n"
        ),
        "musubi": (
            "# Train with musubi-tuner\n\n"
            + common
            + "\n1. Cache latents and text encoder outputs with `--dataset_config <this folder>/dataset.toml` "
            "(the `*_cache_latents.py` and `*_cache_text_encoder_outputs.py` scripts of your model).\n"
            "2. Train with the same `--dataset_config`; caches go to `cache/`.\n"
            + (
                f"musubi-tuner does not read masks: the {masks_dropped} masks set in LoRAIro were not exported.\n"
                if masks_dropped
                else ""
            )
        ),
    }
    return steps[fmt]
