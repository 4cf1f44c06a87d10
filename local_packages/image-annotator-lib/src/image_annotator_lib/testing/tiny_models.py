"""Tiny ONNX models in the real formats, with outputs that are a known function of the input.

WD tagger (`make_wd_tagger`): input [N, S, S, 3] (BGR 0..255, like SmilingWolf's), output
sigmoid(mean_bgr / 255 @ W + b) per CSV row, so a test computes the exact probabilities of a uniform-colour image
with `TinyWD.expected_probs`. With `conv_channels` the model gets a stack of stride-2 convolutions in front (a
mid-size model for benchmarks); its output is then no longer predicted.

Aesthetic towers (`make_aesthetic_model`): CLIP-shaped (pixel_values [N, 3, 224, 224] -> image_embeds [N, 768])
or SigLIP-shaped ([N, 3, 384, 384] -> pooler_output [N, 1152]); the embedding is channel_means @ P, and a head
of linear layers 768|1152 -> 1024 -> 128 -> 64 -> 16 -> 1 is written as .safetensors (or .npz).
`TinyAesthetic.expected_score` gives the exact score for given per-channel means of the preprocessed input.

Requires the `onnx` package (a test dependency, not a runtime one).
"""

from __future__ import annotations

import itertools
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from image_annotator_lib.core.types import ModelKind, ModelSource, ModelSpec

RATINGS = ("general", "sensitive", "questionable", "explicit")
# (name, category): the 4 rating rows first, as in the real selected_tags.csv.
DEFAULT_TAGS: tuple[tuple[str, int], ...] = (
    *((r, 9) for r in RATINGS),
    ("1girl", 0),
    ("solo", 0),
    ("red_theme", 0),
    ("blue_theme", 0),
    ("white_background", 0),
    ("simple_background", 0),
    ("hatsune_miku", 4),
    ("kagamine_rin", 4),
    ("vocaloid", 3),
    ("highres", 5),
)
# Logit weights per BGR channel mean (0..1) and bias, one column per DEFAULT_TAGS row. Chosen so a white image,
# a red image and a blue image give clearly different tags (see tests).
DEFAULT_WEIGHTS = np.array(
    [
        # gen  sens  ques  expl  1girl solo  red   blue  whiteBG simpleBG miku  rin  vocaloid highres
        [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -4.0, 6.0, 2.0, 1.0, 4.0, -3.0, 0.0, 0.0],  # B
        [1.0, 0.0, 0.0, 0.0, 0.0, 0.0, -4.0, -4.0, 2.0, 1.0, 0.0, 0.0, 0.0, 0.0],  # G
        [1.0, 3.0, 0.0, 0.0, 0.0, 0.0, 6.0, -4.0, 2.0, 1.0, -3.0, 4.0, 0.0, 0.0],  # R
    ],
    dtype=np.float32,
)
DEFAULT_BIAS = np.array(
    [0.0, -1.0, -2.0, -3.0, 0.5, -1.0, -2.0, -2.0, -4.0, -1.0, -1.3, -1.3, -0.5, -1.4], dtype=np.float32
)


def _onnx() -> Any:
    try:
        import onnx
    except ImportError as exc:  # pragma: no cover - a test-environment problem
        raise RuntimeError("image_annotator_lib.testing needs the 'onnx' package (pip install onnx)") from exc
    return onnx


def _save(graph: Any, path: Path) -> None:
    onnx = _onnx()
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x.astype(np.float64))), dtype=np.float64)


@dataclass
class TinyWD:
    """A generated WD tagger folder (model.onnx + selected_tags.csv)."""

    folder: Path
    size: int
    tags: tuple[tuple[str, int], ...]
    weights: np.ndarray
    bias: np.ndarray

    def expected_probs(self, mean_bgr: Sequence[float]) -> np.ndarray:
        """Exact output for an input whose per-channel (B, G, R) mean is `mean_bgr` (0..255)."""
        m = np.asarray(mean_bgr, dtype=np.float64) / 255.0
        return _sigmoid(m @ self.weights.astype(np.float64) + self.bias)

    def spec(self, name: str = "tiny-wd", **options: Any) -> ModelSpec:
        """A registry spec pointing at the folder."""
        return ModelSpec(
            name=name,
            kind=ModelKind.TAGGER,
            framework="wd-onnx",
            source=ModelSource(local_dir=str(self.folder), files=("model.onnx", "selected_tags.csv")),
            batch_size=int(options.pop("batch_size", 4)),
            device=str(options.pop("device", "auto")),
            options=options,
        )


def write_tags_csv(path: Path, tags: Sequence[tuple[str, int]]) -> None:
    """selected_tags.csv in the real header and row format."""
    lines = ["tag_id,name,category,count"]
    lines += [f"{1000 + i},{name},{category},{10000 - i}" for i, (name, category) in enumerate(tags)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make_wd_tagger(
    folder: Path,
    *,
    size: int = 32,
    tags: Sequence[tuple[str, int]] = DEFAULT_TAGS,
    weights: np.ndarray | None = None,
    bias: np.ndarray | None = None,
    batch: int | None = None,
    conv_channels: Sequence[int] = (),
    write_csv: bool = True,
    seed: int = 0,
) -> TinyWD:
    """Write a WD-format model.onnx (+ selected_tags.csv) into `folder`.

    Args:
        size: input H = W.
        batch: None for a dynamic ("batch_size") first dimension, or a fixed batch size.
        conv_channels: optional stride-2 3x3 conv stack (makes a mid-size model for benchmarks).
        write_csv: False to leave the CSV out (to test the missing-file error).
    """
    onnx = _onnx()
    helper, tp = onnx.helper, onnx.TensorProto
    n = len(tags)
    rng = np.random.default_rng(seed)
    if weights is None:
        weights = DEFAULT_WEIGHTS if n == len(DEFAULT_TAGS) else rng.normal(0, 2, (3, n)).astype(np.float32)
    if bias is None:
        bias = DEFAULT_BIAS if n == len(DEFAULT_TAGS) else rng.normal(-1, 1, n).astype(np.float32)
    first: str | int = "batch_size" if batch is None else batch
    inp = helper.make_tensor_value_info("input", tp.FLOAT, [first, size, size, 3])
    out = helper.make_tensor_value_info("output", tp.FLOAT, [first, n])
    nodes: list[Any] = []
    inits = [
        helper.make_tensor("scale", tp.FLOAT, [], [1.0 / 255.0]),
        helper.make_tensor("bias", tp.FLOAT, [n], np.asarray(bias, np.float32).tolist()),
    ]
    if conv_channels:
        nodes.append(helper.make_node("Transpose", ["input"], ["nchw"], perm=[0, 3, 1, 2]))
        prev, width = "nchw", 3
        for i, channels in enumerate(conv_channels):
            w = rng.normal(0, (2.0 / (9 * width)) ** 0.5, (channels, width, 3, 3)).astype(np.float32)
            inits.append(helper.make_tensor(f"cw{i}", tp.FLOAT, list(w.shape), w.flatten().tolist()))
            nodes.append(helper.make_node("Conv", [prev, f"cw{i}"], [f"c{i}"], strides=[2, 2], pads=[1, 1, 1, 1]))
            nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
            prev, width = f"r{i}", channels
        nodes.append(helper.make_node("ReduceMean", [prev], ["pooled"], axes=[2, 3], keepdims=0))
        weights = rng.normal(0, 1.0 / width**0.5, (width, n)).astype(np.float32)
        nodes.append(helper.make_node("Mul", ["pooled", "scale"], ["m"]))
    else:
        nodes.append(helper.make_node("ReduceMean", ["input"], ["pooled"], axes=[1, 2], keepdims=0))
        nodes.append(helper.make_node("Mul", ["pooled", "scale"], ["m"]))
    weights = np.asarray(weights, dtype=np.float32)
    inits.append(helper.make_tensor("weights", tp.FLOAT, list(weights.shape), weights.flatten().tolist()))
    nodes += [
        helper.make_node("MatMul", ["m", "weights"], ["z"]),
        helper.make_node("Add", ["z", "bias"], ["logits"]),
        helper.make_node("Sigmoid", ["logits"], ["output"]),
    ]
    graph = helper.make_graph(nodes, "tiny_wd", [inp], [out], initializer=inits)
    folder = Path(folder)
    _save(graph, folder / "model.onnx")
    if write_csv:
        write_tags_csv(folder / "selected_tags.csv", tags)
    return TinyWD(folder, size, tuple(tags), weights, np.asarray(bias, np.float32))


def write_safetensors(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write float32 arrays in the safetensors format (8-byte header length, JSON header, raw data)."""
    header: dict[str, Any] = {}
    blobs: list[bytes] = []
    offset = 0
    for name, array in arrays.items():
        data = np.ascontiguousarray(array, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # keep tensor data 8-byte aligned, as the reference writer does
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"".join(blobs))


@dataclass
class TinyAesthetic:
    """A generated aesthetic tower + head."""

    folder: Path
    kind: str  # "clip" | "siglip"
    size: int
    projection: np.ndarray  # [3, D]
    head: list[tuple[np.ndarray, np.ndarray]]  # torch layout: weight [out, in], bias [out]
    tower_file: str
    head_file: str
    output_name: str
    extra: dict[str, Any] = field(default_factory=dict)

    def expected_score(self, channel_means: Sequence[float]) -> float:
        """Exact score for a preprocessed input whose per-channel means (C order: R, G, B) are given."""
        embedding = np.asarray(channel_means, dtype=np.float64) @ self.projection.astype(np.float64)
        embedding = embedding / np.linalg.norm(embedding)
        x = embedding
        for weight, bias in self.head:
            x = x @ weight.T.astype(np.float64) + bias
        return float(x[0])

    def spec(self, name: str | None = None, **options: Any) -> ModelSpec:
        opts: dict[str, Any] = {
            "preprocess": self.kind,
            "tower_file": self.tower_file,
            "head_file": self.head_file,
            "embedding_output": self.output_name,
            "head_prefix": "layers.",
            "score_name": "aesthetic_v2" if self.kind == "clip" else "aesthetic_v2_5",
            "scale": [1.0, 10.0],
        }
        opts.update(options)
        return ModelSpec(
            name=name or f"tiny-aesthetic-{self.kind}",
            kind=ModelKind.SCORER,
            framework="aesthetic-onnx",
            source=ModelSource(local_dir=str(self.folder), files=(self.tower_file, self.head_file)),
            batch_size=int(opts.pop("batch_size", 4)),
            options=opts,
        )


def make_aesthetic_model(
    folder: Path, kind: str = "clip", *, head_format: str = "safetensors", seed: int = 0
) -> TinyAesthetic:
    """Write a CLIP- (768-d, 224) or SigLIP-shaped (1152-d, 384) tower ONNX and its MLP head into `folder`."""
    onnx = _onnx()
    helper, tp = onnx.helper, onnx.TensorProto
    dim, size, output = (768, 224, "image_embeds") if kind == "clip" else (1152, 384, "pooler_output")
    rng = np.random.default_rng(seed)
    projection = rng.normal(0, 1, (3, dim)).astype(np.float32)
    inp = helper.make_tensor_value_info("pixel_values", tp.FLOAT, ["batch_size", 3, size, size])
    hidden = helper.make_tensor_value_info("last_hidden_state", tp.FLOAT, ["batch_size", 1, dim])
    out = helper.make_tensor_value_info(output, tp.FLOAT, ["batch_size", dim])
    nodes = [
        helper.make_node("ReduceMean", ["pixel_values"], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["means", "projection"], [output]),
        helper.make_node("Unsqueeze", [output, "axis1"], ["last_hidden_state"]),
    ]
    inits = [
        helper.make_tensor("projection", tp.FLOAT, [3, dim], projection.flatten().tolist()),
        helper.make_tensor("axis1", tp.INT64, [1], [1]),
    ]
    # The hidden state comes first so picking the embedding by name (not position) is exercised.
    graph = helper.make_graph(nodes, f"tiny_{kind}_tower", [inp], [hidden, out], initializer=inits)
    folder = Path(folder)
    tower_file = "onnx/vision_model.onnx"
    _save(graph, folder / tower_file)
    widths = [dim, 1024, 128, 64, 16, 1]
    head = []
    arrays: dict[str, np.ndarray] = {}
    for index, (fan_in, fan_out) in zip((0, 2, 4, 6, 7), itertools.pairwise(widths), strict=True):
        weight = rng.normal(0, 1.0 / fan_in**0.5, (fan_out, fan_in)).astype(np.float32)
        bias = rng.normal(0, 0.1, fan_out).astype(np.float32)
        if index == 7:
            bias = bias + 5.0  # centre scores mid-scale
        head.append((weight, bias))
        arrays[f"layers.{index}.weight"], arrays[f"layers.{index}.bias"] = weight, bias
    if head_format == "npz":
        head_file = "head.npz"
        np.savez(folder / head_file, **arrays)  # type: ignore[arg-type]  # numpy stubs mistype **kwds
    else:
        head_file = "head.safetensors"
        write_safetensors(folder / head_file, {"other.unrelated": np.zeros(4, np.float32), **arrays})
    return TinyAesthetic(folder, kind, size, projection, head, tower_file, head_file, output)


# --- CLIP-style embedding model (vision tower + text tower + tokenizer.json) ---------------------------------------


def clip_normalised_mean(rgb: Sequence[float]) -> np.ndarray:
    """The per-channel mean a uniform image of colour `rgb` (0..255) has after CLIP preprocessing."""
    from image_annotator_lib.local.imaging import CLIP_MEAN, CLIP_STD

    return np.asarray((np.asarray(rgb, np.float64) / 255.0 - CLIP_MEAN) / CLIP_STD, dtype=np.float64)


@dataclass
class TinyClip:
    """A generated transformers.js-style CLIP folder: onnx/vision_model.onnx, onnx/text_model.onnx, tokenizer.json.

    Image embedding = (CLIP-preprocessed channel means) @ projection; text embedding = the masked mean over
    tokens of a per-word table whose row for word w is `clip_normalised_mean(words[w]) @ projection`. The
    projection has orthonormal rows, so cosines between colours are kept exactly, and the text "red" points
    exactly where a uniform image of the colour given for "red" does.
    """

    folder: Path
    dim: int
    projection: np.ndarray  # [3, D]
    words: dict[str, tuple[int, int, int]]

    def expected_image_embedding(self, rgb: Sequence[float]) -> np.ndarray:
        """The L2-normalised embedding of a uniform image of colour `rgb`."""
        vector = clip_normalised_mean(rgb) @ self.projection.astype(np.float64)
        return np.asarray(vector / np.linalg.norm(vector), dtype=np.float32)

    def spec(self, name: str = "tiny-clip", **options: Any) -> ModelSpec:
        opts: dict[str, Any] = {"preprocess": "clip", "embedding_output": "image_embeds", "text_output": "text_embeds"}
        opts.update(options)
        return ModelSpec(
            name=name,
            kind=ModelKind.EMBEDDING,
            framework="clip-onnx",
            source=ModelSource(local_dir=str(self.folder), files=CLIP_FILES),
            batch_size=int(opts.pop("batch_size", 4)),
            options=opts,
        )


CLIP_FILES = ("onnx/vision_model.onnx", "onnx/text_model.onnx", "tokenizer.json")
DEFAULT_WORDS: dict[str, tuple[int, int, int]] = {
    "red": (230, 20, 20),
    "green": (20, 200, 40),
    "blue": (20, 30, 220),
    "white": (255, 255, 255),
}


def write_word_tokenizer(path: Path, words: Sequence[str]) -> dict[str, int]:
    """A lower-casing, whitespace-splitting WordLevel tokenizer.json: [PAD]=0, [UNK]=1, then `words`."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, **{w: i + 2 for i, w in enumerate(words)}}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    path.parent.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(path))
    return vocab


def make_clip_embedder(
    folder: Path,
    *,
    dim: int = 16,
    size: int = 224,
    words: dict[str, tuple[int, int, int]] | None = None,
    seed: int = 0,
) -> TinyClip:
    """Write a tiny CLIP-shaped embedding model (vision + text towers, tokenizer) into `folder`."""
    onnx = _onnx()
    helper, tp = onnx.helper, onnx.TensorProto
    words = dict(DEFAULT_WORDS if words is None else words)
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(0, 1, (dim, 3)))
    projection = np.ascontiguousarray(q.T, dtype=np.float32)  # [3, D], orthonormal rows
    folder = Path(folder)

    inp = helper.make_tensor_value_info("pixel_values", tp.FLOAT, ["batch_size", 3, size, size])
    hidden = helper.make_tensor_value_info("last_hidden_state", tp.FLOAT, ["batch_size", 1, dim])
    out = helper.make_tensor_value_info("image_embeds", tp.FLOAT, ["batch_size", dim])
    nodes = [
        helper.make_node("ReduceMean", ["pixel_values"], ["means"], axes=[2, 3], keepdims=0),
        helper.make_node("MatMul", ["means", "projection"], ["image_embeds"]),
        helper.make_node("Unsqueeze", ["image_embeds", "axis1"], ["last_hidden_state"]),
    ]
    inits = [
        helper.make_tensor("projection", tp.FLOAT, [3, dim], projection.flatten().tolist()),
        helper.make_tensor("axis1", tp.INT64, [1], [1]),
    ]
    graph = helper.make_graph(nodes, "tiny_clip_vision", [inp], [hidden, out], initializer=inits)
    _save(graph, folder / "onnx" / "vision_model.onnx")

    vocab = write_word_tokenizer(folder / "tokenizer.json", list(words))
    table = np.zeros((len(vocab), dim), dtype=np.float32)  # [PAD] and [UNK] embed to zero
    for word, rgb in words.items():
        table[vocab[word]] = (clip_normalised_mean(rgb) @ projection.astype(np.float64)).astype(np.float32)
    ids = helper.make_tensor_value_info("input_ids", tp.INT64, ["batch_size", "sequence_length"])
    mask = helper.make_tensor_value_info("attention_mask", tp.INT64, ["batch_size", "sequence_length"])
    text_hidden = helper.make_tensor_value_info("last_hidden_state", tp.FLOAT, ["batch_size", "sequence_length", dim])
    text_out = helper.make_tensor_value_info("text_embeds", tp.FLOAT, ["batch_size", dim])
    nodes = [
        helper.make_node("Gather", ["table", "input_ids"], ["last_hidden_state"]),
        helper.make_node("Cast", ["attention_mask"], ["maskf"], to=tp.FLOAT),
        helper.make_node("Unsqueeze", ["maskf", "axis2"], ["mask3"]),
        helper.make_node("Mul", ["last_hidden_state", "mask3"], ["masked"]),
        helper.make_node("ReduceSum", ["masked", "axis1"], ["summed"], keepdims=0),
        helper.make_node("ReduceSum", ["maskf", "axis1"], ["count"], keepdims=1),
        helper.make_node("Div", ["summed", "count"], ["text_embeds"]),
    ]
    inits = [
        helper.make_tensor("table", tp.FLOAT, list(table.shape), table.flatten().tolist()),
        helper.make_tensor("axis1", tp.INT64, [1], [1]),
        helper.make_tensor("axis2", tp.INT64, [1], [2]),
    ]
    graph = helper.make_graph(nodes, "tiny_clip_text", [ids, mask], [text_hidden, text_out], initializer=inits)
    _save(graph, folder / "onnx" / "text_model.onnx")
    return TinyClip(folder, dim, projection, words)


# Each style's real preprocessing (see local/matte.py) and its input / output names.
MATTE_STYLES: dict[str, dict[str, Any]] = {
    "rmbg": {
        "input": "input",
        "outputs": ("output", "side_output"),  # the matte is the first output
        "options": {"mean": [0.5] * 3, "std": [1.0] * 3, "output": "first", "activation": "none", "rescale": "minmax"},
    },
    "birefnet": {
        "input": "input_image",
        "outputs": ("side_output", "output_image"),  # logits of the final matte come last
        "options": {
            "mean": [0.485, 0.456, 0.406],
            "std": [0.229, 0.224, 0.225],
            "output": "last",
            "activation": "sigmoid",
            "rescale": "clip",
        },
    },
}
MATTE_LOGIT = 10.0  # the birefnet-style model's logit for foreground (+) and background (-)


@dataclass
class TinyMatte:
    """A generated background-removal model: foreground = the normalised red channel above 0.

    For RMBG's normalisation that is red >= 128; for BiRefNet's (ImageNet) red >= 124. `expected()` gives the
    exact matte for an image the size of the model input (no resize in between).
    """

    folder: Path
    style: str  # "rmbg" | "birefnet"
    size: int
    model_file: str = "onnx/model.onnx"

    def foreground(self, rgb: np.ndarray) -> np.ndarray:
        """Boolean H x W: where the model says foreground for RGB uint8 pixels (computed as the model does)."""
        options = MATTE_STYLES[self.style]["options"]
        red = (rgb[..., 0].astype(np.float32) / np.float32(255.0) - np.float32(options["mean"][0])) / np.float32(
            options["std"][0]
        )
        return np.asarray(red > 0)

    def expected(self, rgb: np.ndarray) -> np.ndarray:
        """The exact uint8 matte for RGB uint8 pixels of the model's input size."""
        fg = self.foreground(rgb)
        if self.style == "rmbg":  # 0/1 output, min-max keeps it 0/1 (a flat output is clipped as it is)
            return np.where(fg, 255, 0).astype(np.uint8)
        probs = _sigmoid(np.where(fg, MATTE_LOGIT, -MATTE_LOGIT)).astype(np.float32)
        return (np.clip(probs, 0.0, 1.0) * 255.0).astype(np.uint8)

    def spec(self, name: str | None = None, **options: Any) -> ModelSpec:
        opts: dict[str, Any] = {**MATTE_STYLES[self.style]["options"], **options}
        return ModelSpec(
            name=name or f"tiny-matte-{self.style}",
            kind=ModelKind.MATTE,
            framework="matte-onnx",
            source=ModelSource(local_dir=str(self.folder), files=(self.model_file,)),
            batch_size=int(opts.pop("batch_size", 2)),
            device=str(opts.pop("device", "auto")),
            options=opts,
        )


def make_matte_model(folder: Path, style: str = "rmbg", *, size: int = 32, batch: int | None = None) -> TinyMatte:
    """Write an RMBG- or BiRefNet-shaped `onnx/model.onnx` ([N, 3, S, S] -> [N, 1, S, S] plus a side output)."""
    if style not in MATTE_STYLES:
        raise ValueError(f"style must be one of {', '.join(MATTE_STYLES)}")
    onnx = _onnx()
    helper, tp = onnx.helper, onnx.TensorProto
    layout = MATTE_STYLES[style]
    first: str | int = "batch_size" if batch is None else batch
    inp = helper.make_tensor_value_info(layout["input"], tp.FLOAT, [first, 3, size, size])
    outs = [helper.make_tensor_value_info(n, tp.FLOAT, [first, 1, size, size]) for n in layout["outputs"]]
    inits = [
        helper.make_tensor("starts", tp.INT64, [1], [0]),
        helper.make_tensor("ends", tp.INT64, [1], [1]),
        helper.make_tensor("axes", tp.INT64, [1], [1]),
        helper.make_tensor("zero", tp.FLOAT, [], [0.0]),
        helper.make_tensor("gain", tp.FLOAT, [], [2.0 * MATTE_LOGIT]),
        helper.make_tensor("offset", tp.FLOAT, [], [MATTE_LOGIT]),
        helper.make_tensor("side_value", tp.FLOAT, [], [0.25]),
    ]
    main, side = (layout["outputs"][0], layout["outputs"][1]) if style == "rmbg" else layout["outputs"][::-1]
    nodes = [
        helper.make_node("Slice", [layout["input"], "starts", "ends", "axes"], ["red"]),
        helper.make_node("Greater", ["red", "zero"], ["is_fg"]),
        helper.make_node("Cast", ["is_fg"], ["fg"], to=tp.FLOAT),
        # A side output of another value, so picking the wrong output shows in the matte.
        helper.make_node("Mul", ["red", "zero"], ["side_zero"]),
        helper.make_node("Add", ["side_zero", "side_value"], [side]),
    ]
    if style == "rmbg":
        nodes.append(helper.make_node("Identity", ["fg"], [main]))
    else:  # logits: +LOGIT for foreground, -LOGIT for background
        nodes += [
            helper.make_node("Mul", ["fg", "gain"], ["scaled"]),
            helper.make_node("Sub", ["scaled", "offset"], [main]),
        ]
    graph = helper.make_graph(nodes, f"tiny_matte_{style}", [inp], outs, initializer=inits)
    matte = TinyMatte(Path(folder), style, size)
    _save(graph, matte.folder / matte.model_file)
    return matte
