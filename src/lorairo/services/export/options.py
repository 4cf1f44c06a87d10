"""ExportOptions: everything one export needs, validated up front with errors that name the field."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from genai_tag_db_tools import DEFAULT_CATEGORY_ORDER

from lorairo.exceptions import ExportError
from lorairo.services.export.bucketing import BucketSettings

FORMATS: tuple[str, ...] = (
    "kohya",
    "kohya-json",
    "kohya-jsonl",
    "onetrainer",
    "hf",
    "simpletuner",
    "ai-toolkit",
    "diffusion-pipe",
    "musubi",
)
#: The trainers of issue 17 (FLUX / SD3 / Wan / HunyuanVideo / Qwen-Image LoRAs): images in ``images/``, a config
#: and a README_TRAINING.md beside them.
TRAINER_FORMATS: tuple[str, ...] = ("simpletuner", "ai-toolkit", "diffusion-pipe", "musubi")
#: Formats whose caption files hold several captions (one per line, or diffusion-pipe's captions.json); the
#: others get one, chosen by ``single_caption``.
MULTI_CAPTION_FORMATS: tuple[str, ...] = ("kohya", "onetrainer", "simpletuner", "diffusion-pipe")
SINGLE_CAPTION_MODES: tuple[str, ...] = ("first", "longest", "join")
#: Formats trained by sd-scripts with the dataset_config.toml this export writes.
KOHYA_FORMATS: tuple[str, ...] = ("kohya", "kohya-json", "kohya-jsonl")
_FORMAT_ALIASES = {
    "hf-imagefolder": "hf",
    "huggingface": "hf",
    "kohya-metadata": "kohya-json",
    "aitoolkit": "ai-toolkit",
    "ai_toolkit": "ai-toolkit",
    "diffusion_pipe": "diffusion-pipe",
    "diffusionpipe": "diffusion-pipe",
    "musubi-tuner": "musubi",
    "musubi_tuner": "musubi",
    "simple-tuner": "simpletuner",
}
CAPTION_MODES: tuple[str, ...] = ("tags", "caption", "both")
IMAGE_FORMATS: tuple[str, ...] = ("original", "png", "jpg", "webp")
ALPHA_MODES: tuple[str, ...] = ("composite", "mask")
RESIZE_FILTERS: tuple[str, ...] = ("area", "lanczos")

#: Tag categories ``categories`` may name (the tag database's; ``count`` is derived from the tag, not stored).
TAG_CATEGORIES: tuple[str, ...] = tuple(c for c in DEFAULT_CATEGORY_ORDER if c != "count")

#: Tags written with their underscores even when underscores become spaces (besides the 19 kaomoji): the Pony
#: / Animagine quality and source conventions are trained with the underscore spelling (``score_8_up``,
#: ``source_anime``, ``rating_safe``). Shell-style patterns; ``export.keep_underscores`` in the config.
DEFAULT_KEEP_UNDERSCORES: tuple[str, ...] = ("score_*", "source_*", "rating_*")

#: Extensions a caption file must not take: they are images, masks, caches or our own outputs.
_RESERVED_CAPTION_EXTS = frozenset(
    {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".npz", ".json", ".jsonl", ".toml"}
)
_CAPTION_EXT_RE = re.compile(r"^\.[A-Za-z0-9_-]{1,16}$")


def normalize_format(name: str) -> str:
    """Return the canonical format name, accepting the aliases the config file uses (``hf-imagefolder``)."""
    key = name.strip().lower()
    key = _FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        raise ExportError(f"export format {name!r} is unknown; choose one of {', '.join(FORMATS)}")
    return key


def normalize_caption_extension(ext: str) -> str:
    """``txt`` -> ``.txt``; refuse extensions a trainer would read as something else."""
    value = ext.strip()
    if value and not value.startswith("."):
        value = "." + value
    if not _CAPTION_EXT_RE.match(value):
        raise ExportError(f"caption_extension {ext!r} must look like .txt (a dot and 1-16 letters, digits, _ or -)")
    if value.lower() in _RESERVED_CAPTION_EXTS:
        raise ExportError(f"caption_extension {ext!r} is an image, cache or metadata extension")
    return value


def split_words(text: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Comma-separated text (the config's ``trigger_words``) or a sequence -> stripped non-empty words."""
    parts = text.split(",") if isinstance(text, str) else list(text)
    return tuple(p.strip() for p in parts if p and p.strip())


@dataclass(frozen=True)
class ExportOptions:
    """Options of one export. Build with :meth:`ExportService.default_options` to start from the config.

    Attributes:
        format: kohya / kohya-json / kohya-jsonl / onetrainer / hf.
        target_dir: Folder the dataset is written to (created; a non-empty one needs ``force``).
        image_ids: Images to export; None = every image of the project. Excluded images are always left out.
        caption_mode: ``tags``, ``caption`` (natural language) or ``both``.
        caption_variants: With ``both``: tags and caption as two lines (alternatives; turns on sd-scripts'
            ``enable_wildcard`` and brace doubling) instead of one line.
        caption_extension: Sidecar extension, ``.txt`` by default.
        trigger_words: Written first in every caption; ``keep_tokens`` counts them.
        class_tokens: The class (``woman``) of the kohya folder name and ``class_tokens`` of the TOML.
        repeats: ``num_repeats`` and the folder-name prefix.
        use_keep_tokens_separator: Write ``trigger ||| tags`` and ``keep_tokens_separator`` instead of
            ``keep_tokens`` (sd-scripts only; never both).
        underscores_to_spaces: ``long_hair`` -> ``long hair`` (the 19 kaomoji are kept verbatim).
        keep_underscores: Shell-style patterns (``score_*``) of tags that keep their underscores anyway.
        escape_parentheses: A1111/ComfyUI escaping ``\\(`` ``\\)``; never for training by default.
        order_by_category: Head counts, character, copyright, artist, general, ..., meta.
        min_confidence: Model tags below this are left out (manual and sidecar tags are always in).
        categories: Tag categories to include (None = all; uncategorised tags count as ``general``).
        include_model_tags: False keeps only manual and sidecar tags.
        include_rating_tag: Add ``rating_<label>`` after the trigger words.
        include_score_tag: Add ``score_<n>`` (n = the aesthetic score on a 1-10 scale, floored, 1..9).
        score_name: Which score to use for the score tag / metadata (None = the first ``aesthetic*`` score).
        resolution: Target resolution for sd-scripts bucketing; None keeps the original size.
        image_format: original (png/jpg/webp/bmp kept, others to PNG) / png / jpg / webp.
        alpha: ``composite`` on ``background``, or ``mask`` (kept: RGBA for sd-scripts ``alpha_mask``,
            ``<stem>-masklabel.png`` for OneTrainer, ``masks/`` for ai-toolkit, diffusion-pipe and SimpleTuner;
            musubi-tuner has no masks and composites).
        shuffle_caption: Written to the TOML only when set (None leaves it to the trainer's command line).
        batch_size / caption_dropout_rate: Written only when set: a ``batch_size`` in the TOML overrides the
            trainer's ``--train_batch_size``, and textual inversion's schema refuses ``caption_dropout_rate``.
        relative_paths: ``image_dir`` (and metadata paths) relative to the folder of ``dataset_config.toml``,
            so the export can be moved; start the trainer from that folder.
        force: Replace the whole target folder (never one that holds a project or source images).
        all_captions: Write every caption of an image (manual first, then sidecar, then model; newest first),
            one line each, where the format holds several (kohya turns on ``enable_wildcard``).
        single_caption: For formats holding one caption (ai-toolkit, musubi, hf, kohya metadata) when an image has
            several lines: ``first``, ``longest`` or ``join`` (their chunks, repeats dropped). Reported.
        masks: Export the project's stored masks the way the trainer reads them (and crops always apply).
        musubi_jsonl: musubi-tuner: the ``image_jsonl_file`` form instead of caption files.
    """

    format: str = "kohya"
    target_dir: Path = field(default_factory=lambda: Path("export"))
    image_ids: tuple[int, ...] | None = None
    caption_mode: str = "tags"
    caption_variants: bool = False
    caption_extension: str = ".txt"
    trigger_words: tuple[str, ...] = ()
    class_tokens: str = ""
    repeats: int = 10
    use_keep_tokens_separator: bool = False
    underscores_to_spaces: bool = True
    keep_underscores: tuple[str, ...] = DEFAULT_KEEP_UNDERSCORES
    escape_parentheses: bool = False
    order_by_category: bool = True
    min_confidence: float = 0.35
    categories: frozenset[str] | None = None
    include_model_tags: bool = True
    include_rating_tag: bool = False
    include_score_tag: bool = False
    score_name: str | None = None
    resolution: int | None = 1024
    min_bucket_reso: int = 256
    max_bucket_reso: int = 1024
    bucket_reso_steps: int = 64
    bucket_no_upscale: bool = False
    image_format: str = "original"
    jpeg_quality: int = 95
    alpha: str = "composite"
    background: tuple[int, int, int] = (255, 255, 255)
    resize_filter: str = "area"
    shuffle_caption: bool | None = None
    batch_size: int | None = None
    caption_dropout_rate: float | None = None
    flip_aug: bool = False
    relative_paths: bool = False
    force: bool = False
    all_captions: bool = False
    single_caption: str = "first"
    masks: bool = True
    musubi_jsonl: bool = False

    @property
    def wildcard(self) -> bool:
        """sd-scripts ``enable_wildcard``: on when captions are written as variant lines."""
        return (self.caption_mode == "both" and self.caption_variants) or (
            self.format == "kohya" and self.all_captions and self.caption_mode != "tags"
        )

    @property
    def multi_caption(self) -> bool:
        """The format can hold several captions for one image."""
        return self.format in MULTI_CAPTION_FORMATS

    @property
    def protects_sentences(self) -> bool:
        """kohya exports write a caption sentence as one ``secondary_separator`` unit (shuffling cannot cut it)."""
        return self.format in KOHYA_FORMATS and self.caption_mode in ("caption", "both")

    @property
    def bucket_settings(self) -> BucketSettings | None:
        if self.resolution is None:
            return None
        return BucketSettings(
            resolution=(self.resolution, self.resolution),
            min_bucket_reso=self.min_bucket_reso,
            max_bucket_reso=self.max_bucket_reso,
            bucket_reso_steps=self.bucket_reso_steps,
            bucket_no_upscale=self.bucket_no_upscale,
        )

    def with_changes(self, **changes: Any) -> ExportOptions:
        return replace(self, **changes)

    def validated(self) -> ExportOptions:
        """Return a normalised copy (canonical format, ``.txt``-style extension) or raise ExportError."""
        fmt = normalize_format(self.format)
        ext = normalize_caption_extension(self.caption_extension)
        if fmt == "onetrainer" and ext != ".txt":
            raise ExportError(f"OneTrainer reads <stem>.txt captions: caption_extension must be .txt, not {ext}")
        if self.caption_mode not in CAPTION_MODES:
            raise ExportError(f"caption_mode {self.caption_mode!r} must be one of {', '.join(CAPTION_MODES)}")
        if self.image_format not in IMAGE_FORMATS:
            raise ExportError(f"image_format {self.image_format!r} must be one of {', '.join(IMAGE_FORMATS)}")
        if self.alpha not in ALPHA_MODES:
            raise ExportError(f"alpha {self.alpha!r} must be one of {', '.join(ALPHA_MODES)}")
        if self.alpha == "mask" and self.image_format == "jpg" and fmt in (*KOHYA_FORMATS, "hf"):
            raise ExportError("alpha 'mask' keeps the alpha channel, which JPEG cannot hold: choose png or webp")
        if self.single_caption not in SINGLE_CAPTION_MODES:
            raise ExportError(
                f"single_caption {self.single_caption!r} must be one of {', '.join(SINGLE_CAPTION_MODES)}"
            )
        if fmt == "ai-toolkit" and self.image_format == "webp":
            raise ExportError("ai-toolkit reads jpg, jpeg and png only: choose image_format original, png or jpg")
        if self.resize_filter not in RESIZE_FILTERS:
            raise ExportError(f"resize_filter {self.resize_filter!r} must be one of {', '.join(RESIZE_FILTERS)}")
        if self.use_keep_tokens_separator and fmt != "kohya":
            raise ExportError(
                "keep_tokens_separator is for kohya folder exports only (sd-scripts reads it from caption files); "
                "use keep_tokens for the other formats"
            )
        if self.repeats < 1:
            raise ExportError(f"repeats must be at least 1, got {self.repeats}")
        if not 0.0 <= self.min_confidence <= 1.0:
            raise ExportError(f"min_confidence must be between 0 and 1, got {self.min_confidence}")
        if self.caption_dropout_rate is not None and not 0.0 <= self.caption_dropout_rate <= 1.0:
            raise ExportError(f"caption_dropout_rate must be between 0 and 1, got {self.caption_dropout_rate}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ExportError(f"batch_size must be at least 1, got {self.batch_size}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ExportError(f"jpeg_quality must be 1..100, got {self.jpeg_quality}")
        if len(self.background) != 3 or not all(0 <= c <= 255 for c in self.background):
            raise ExportError(f"background must be three 0..255 values, got {self.background}")
        settings = self.bucket_settings
        if settings is not None:
            try:
                settings.validate()
            except ValueError as exc:
                raise ExportError(f"bucket settings: {exc}") from exc
        if self.categories is not None:
            unknown = sorted(c for c in self.categories if c not in TAG_CATEGORIES)
            if unknown:
                raise ExportError(
                    f"unknown tag categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(map(repr, unknown))}; "
                    f"choose from {', '.join(TAG_CATEGORIES)}"
                )
        triggers = tuple(" ".join(t.split()) for t in self.trigger_words)
        for word in triggers:
            if "," in word or "|||" in word or not word:
                raise ExportError(f"trigger word {word!r} must not be empty or contain ',' or '|||'")
        return replace(
            self,
            format=fmt,
            caption_extension=ext,
            trigger_words=triggers,
            class_tokens=" ".join(self.class_tokens.split()),
            keep_underscores=tuple(p.strip() for p in self.keep_underscores if p.strip()),
            target_dir=Path(self.target_dir).expanduser(),
        )
