"""dataset_config.toml against the keys sd-scripts' trainers accept (restated here from sd-scripts'
library/config_util.py ConfigSanitizer, per trainer), and only what the user set.

sd-scripts validates the user config with voluptuous: an unknown key in any table is an error, and the trainer
refuses to start. Which keys are known depends on the trainer: train_network (LoRA) and textual inversion accept
DreamBooth-style and fine-tuning-style datasets, train_db only DreamBooth-style, fine_tune only fine-tuning; the
caption dropout keys are refused by textual inversion; ``caption_extension`` / ``class_tokens`` are DreamBooth
keys (refused in [general] by fine_tune, and in fine-tuning subsets by everyone).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from lorairo.services.export.options import ExportOptions
from lorairo.services.export.writers import SubsetSpec, dataset_config_toml

Check = Callable[[Any], bool]


def _is(*types: type) -> Check:
    return lambda v: isinstance(v, types) and not (isinstance(v, bool) and bool not in types)


def _pair_or(kind: type) -> Check:
    return lambda v: _is(kind)(v) or (isinstance(v, list) and len(v) == 2 and all(_is(kind)(x) for x in v))


# Keys every subset (and, inherited downwards, every dataset and [general]) may carry.
SUBSET_COMMON: dict[str, Check] = {
    "color_aug": _is(bool),
    "face_crop_aug_range": _pair_or(float),
    "flip_aug": _is(bool),
    "num_repeats": _is(int),
    "random_crop": _is(bool),
    "shuffle_caption": _is(bool),
    "keep_tokens": _is(int),
    "keep_tokens_separator": _is(str),
    "secondary_separator": _is(str),
    "enable_wildcard": _is(bool),
    "token_warmup_min": _is(int),
    "token_warmup_step": _is(int, float),
    "caption_prefix": _is(str),
    "caption_suffix": _is(str),
    "alpha_mask": _is(bool),
}
DROPOUT: dict[str, Check] = {
    "caption_dropout_every_n_epochs": _is(int),
    "caption_dropout_rate": _is(int, float),
    "caption_tag_dropout_rate": _is(int, float),
}
DREAMBOOTH_INHERITABLE: dict[str, Check] = {
    "caption_extension": _is(str),
    "class_tokens": _is(str),
    "cache_info": _is(bool),
}
DREAMBOOTH_SUBSET_ONLY: dict[str, Check] = {"image_dir": _is(str), "is_reg": _is(bool)}
FINETUNE_SUBSET_ONLY: dict[str, Check] = {"metadata_file": _is(str), "image_dir": _is(str)}
DATASET_ONLY: dict[str, Check] = {
    "batch_size": _is(int),
    "bucket_no_upscale": _is(bool),
    "bucket_reso_steps": _is(int),
    "enable_bucket": _is(bool),
    "max_bucket_reso": _is(int),
    "min_bucket_reso": _is(int),
    "resolution": _pair_or(int),
    "network_multiplier": _is(float),
}


@dataclass(frozen=True)
class Trainer:
    name: str
    dreambooth: bool
    finetuning: bool
    dropout: bool

    def validate(self, config: dict[str, Any]) -> None:
        """Raise AssertionError naming the first key this trainer would refuse."""
        assert set(config) <= {"general", "datasets"}, f"{self.name}: top-level keys {set(config)}"
        drop = DROPOUT if self.dropout else {}
        general = {**DATASET_ONLY, **SUBSET_COMMON, **(DREAMBOOTH_INHERITABLE if self.dreambooth else {}), **drop}
        _check_table(f"{self.name} [general]", config.get("general", {}), general)
        for dataset in config["datasets"]:
            subsets = dataset.get("subsets", [])
            finetune_style = all("metadata_file" in s for s in subsets)
            dreambooth_style = all("metadata_file" not in s for s in subsets)
            if finetune_style and self.finetuning:
                sub_schema = {**SUBSET_COMMON, **FINETUNE_SUBSET_ONLY, **drop}
                ds_schema = {**DATASET_ONLY, **SUBSET_COMMON, **drop}
                required = "metadata_file"
            elif dreambooth_style and self.dreambooth:
                sub_schema = {**SUBSET_COMMON, **DREAMBOOTH_INHERITABLE, **DREAMBOOTH_SUBSET_ONLY, **drop}
                ds_schema = {**DATASET_ONLY, **SUBSET_COMMON, **DREAMBOOTH_INHERITABLE, **drop}
                required = "image_dir"
            else:
                raise AssertionError(f"{self.name} does not train this kind of dataset: {subsets}")
            _check_table(f"{self.name} [[datasets]]", {k: v for k, v in dataset.items() if k != "subsets"}, ds_schema)
            for sub in subsets:
                assert required in sub, f"{self.name}: subset without {required}"
                _check_table(f"{self.name} [[datasets.subsets]]", sub, sub_schema)


def _check_table(where: str, table: dict[str, Any], schema: dict[str, Check]) -> None:
    for key, value in table.items():
        assert key in schema, f"{where}: {key!r} is not a key this trainer accepts"
        assert schema[key](value), f"{where}: {key} = {value!r} has the wrong type"


LORA = Trainer("train_network (LoRA)", dreambooth=True, finetuning=True, dropout=True)
DREAMBOOTH = Trainer("train_db (DreamBooth)", dreambooth=True, finetuning=False, dropout=True)
FINETUNE = Trainer("fine_tune", dreambooth=False, finetuning=True, dropout=True)
TEXTUAL_INVERSION = Trainer("train_textual_inversion", dreambooth=True, finetuning=True, dropout=False)

FOLDER_SUBSET = SubsetSpec(image_dir="/data/out/10_sks woman")
METADATA_SUBSET = SubsetSpec(image_dir="/data/out/images", metadata_file="/data/out/metadata.json")

OPTION_SETS: list[dict[str, Any]] = [
    {},
    {"trigger_words": ("sks",), "class_tokens": "woman"},
    {"trigger_words": ("sks",), "use_keep_tokens_separator": True, "shuffle_caption": True},
    {"caption_mode": "both", "caption_variants": True, "shuffle_caption": False},
    {"resolution": None},
    {"bucket_no_upscale": True, "flip_aug": True},
]


def _config(options: dict[str, Any], subset: SubsetSpec, fmt: str, keep_tokens: int = 1) -> dict[str, Any]:
    opts = ExportOptions(format=fmt, **options).validated()
    return tomllib.loads(dataset_config_toml(opts, subset, keep_tokens))


@pytest.mark.parametrize("options", OPTION_SETS)
@pytest.mark.parametrize("trainer", [LORA, DREAMBOOTH, TEXTUAL_INVERSION], ids=lambda t: t.name)
def test_folder_export_toml_passes_every_dreambooth_style_trainer(options: dict[str, Any], trainer: Trainer) -> None:
    trainer.validate(_config(options, FOLDER_SUBSET, "kohya"))


@pytest.mark.parametrize("options", OPTION_SETS)
@pytest.mark.parametrize("trainer", [LORA, FINETUNE, TEXTUAL_INVERSION], ids=lambda t: t.name)
def test_metadata_export_toml_passes_every_finetuning_trainer(options: dict[str, Any], trainer: Trainer) -> None:
    options = {k: v for k, v in options.items() if k != "use_keep_tokens_separator"}  # folder exports only
    trainer.validate(_config(options, METADATA_SUBSET, "kohya-json"))


def test_the_schema_in_this_test_refuses_what_the_trainers_refuse() -> None:
    """The restated schema must be able to fail: the keys the old export wrote are refused where sd-scripts
    refuses them."""
    old_subset = {"image_dir": "/x", "num_repeats": 10, "caption_dropout_rate": 0.0}
    with pytest.raises(AssertionError, match="caption_dropout_rate"):
        TEXTUAL_INVERSION.validate({"general": {}, "datasets": [{"subsets": [old_subset]}]})
    with pytest.raises(AssertionError, match="caption_extension"):
        FINETUNE.validate(
            {"general": {"caption_extension": ".txt"}, "datasets": [{"subsets": [{"metadata_file": "m"}]}]}
        )
    with pytest.raises(AssertionError, match="does not train"):
        DREAMBOOTH.validate({"datasets": [{"subsets": [{"metadata_file": "m"}]}]})


def test_only_what_the_user_set_is_written() -> None:
    config = _config({"trigger_words": ("sks",)}, FOLDER_SUBSET, "kohya", keep_tokens=1)
    general, dataset = config["general"], config["datasets"][0]
    subset = dataset["subsets"][0]
    # batch_size would override the trainer's --train_batch_size; shuffle_caption is the trainer's unless set
    assert "batch_size" not in dataset and "batch_size" not in general
    assert "shuffle_caption" not in general
    assert "caption_dropout_rate" not in subset and "caption_dropout_rate" not in general
    assert "alpha_mask" not in subset and "flip_aug" not in subset and "is_reg" not in subset
    assert general == {"caption_extension": ".txt", "keep_tokens": 1}
    assert subset == {"image_dir": "/data/out/10_sks woman", "num_repeats": 10, "class_tokens": "sks"}

    chosen = _config(
        {"shuffle_caption": False, "batch_size": 4, "caption_dropout_rate": 0.1}, FOLDER_SUBSET, "kohya", 0
    )
    assert chosen["general"]["shuffle_caption"] is False
    assert chosen["general"]["caption_dropout_rate"] == 0.1
    assert chosen["datasets"][0]["batch_size"] == 4
    assert "keep_tokens" not in chosen["general"]  # 0 is the trainer's default: not written


def test_sentence_protection_names_the_secondary_separator() -> None:
    subset = SubsetSpec(image_dir="/d", protected_sentences=True)
    config = _config({"caption_mode": "both", "shuffle_caption": True}, subset, "kohya")
    assert config["general"]["secondary_separator"] == ";;;"
    LORA.validate(config)
