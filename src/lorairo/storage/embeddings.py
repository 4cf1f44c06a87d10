"""Per-project, per-model image embeddings on disk: compact float16 rows, memory-mapped for reading.

Layout under `<project>/embeddings/` for one store (one model at one output width):

    <key>.json          {"format", "version", "model", "dim", "count", "generation", "updated"}
    <key>.g<N>.f16      float16 rows [count, dim], little-endian, no header (np.memmap reads it in place)
    <key>.g<N>.ids      int64 image ids [count], row order

`key` is the model name made file-safe plus the width (`clip-vit-b32-embed-512d`), so a model whose output width
changes gets a new store and vectors of different widths are never mixed. Appends write the rows, then the ids,
then replace the JSON (atomically), so a crash mid-append leaves bytes past `count` that the next open cuts off.
Files shorter than `count` rows, or a JSON that cannot be read, mean damage: the store is reported corrupt and
`discard()` removes just its files (the embeddings are recomputed by `lorairo embed`; nothing else is touched).
Compaction (dropping deleted images) writes generation N+1 and switches the JSON to it, so a reader holding
generation N keeps valid files. Writers are serialised by the project's writer lock; reads need no lock.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

EMBEDDINGS_DIR = "embeddings"
FORMAT = "lorairo-embeddings"
VERSION = 1
_write_lock = threading.Lock()  # appends from the annotation writer and `embed` in one process


class CorruptStoreError(Exception):
    """An embeddings store is damaged (the message names the file and what is wrong)."""


def store_key(model: str, dim: int) -> str:
    """A file-safe name for (model, width); unusual names get a short digest so two never collide."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model).strip("._") or "model"
    if safe != model:
        safe += "-" + hashlib.sha1(model.encode()).hexdigest()[:8]
    return f"{safe}-{dim}d"


@dataclass(frozen=True)
class Snapshot:
    """What one read sees: image ids (unique, ascending) and their rows of a float16 memmap."""

    model: str
    dim: int
    ids: np.ndarray  # int64 [n], ascending
    vectors: np.ndarray  # float16 [n, dim] (a memmap, or an in-memory copy when rows had to be reordered)

    def __len__(self) -> int:
        return len(self.ids)

    def rows_of(self, image_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(rows, found ids) for the given ids that have an embedding."""
        wanted = np.asarray(image_ids, dtype=np.int64)
        pos = np.searchsorted(self.ids, wanted)
        pos_clipped = np.minimum(pos, max(len(self.ids) - 1, 0))
        hit = (pos < len(self.ids)) & (self.ids[pos_clipped] == wanted) if len(self.ids) else np.zeros(0, bool)
        return pos_clipped[hit], wanted[hit]


class EmbeddingStore:
    """One model's embeddings at one width in one project."""

    def __init__(self, project_root: Path, model: str, dim: int) -> None:
        self.folder = Path(project_root) / EMBEDDINGS_DIR
        self.model = model
        self.dim = int(dim)
        self.key = store_key(model, self.dim)
        self.meta_path = self.folder / f"{self.key}.json"

    # --- finding stores -------------------------------------------------------------------------------------

    @staticmethod
    def stores_of(project_root: Path, model: str) -> list[EmbeddingStore]:
        """Every store of `model` in the project (one per width it has produced), newest first; a store whose
        JSON cannot be read comes first, so callers report (and rebuild) it instead of silently using another."""
        folder = Path(project_root) / EMBEDDINGS_DIR
        prefix = store_key(model, 0)[: -len("-0d")]
        pattern = re.compile(re.escape(prefix) + r"-(\d+)d\.json")
        found: list[tuple[str, EmbeddingStore]] = []
        for meta in folder.glob("*.json") if folder.is_dir() else []:
            match = pattern.fullmatch(meta.name)
            if match is None:
                continue
            store = EmbeddingStore(project_root, model, int(match.group(1)))
            try:
                updated = str(store._read_meta().get("updated", ""))
            except CorruptStoreError:
                updated = "~"  # sorts after every ISO date: reported first
            found.append((updated, store))
        return [s for _, s in sorted(found, key=lambda pair: pair[0], reverse=True)]

    @staticmethod
    def models_in(project_root: Path) -> list[str]:
        """Model names that have a store in the project."""
        folder = Path(project_root) / EMBEDDINGS_DIR
        names: set[str] = set()
        for meta in folder.glob("*.json") if folder.is_dir() else []:
            with contextlib.suppress(OSError, ValueError):
                data = json.loads(meta.read_text(encoding="utf-8"))
                if isinstance(data, dict) and data.get("format") == FORMAT and isinstance(data.get("model"), str):
                    names.add(data["model"])
        return sorted(names)

    # --- metadata -------------------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.meta_path.is_file()

    def _files(self, generation: int) -> tuple[Path, Path]:
        return (self.folder / f"{self.key}.g{generation}.f16", self.folder / f"{self.key}.g{generation}.ids")

    def _read_meta(self) -> dict[str, object]:
        try:
            data = json.loads(self.meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise CorruptStoreError(f"{self.meta_path}: cannot be read ({exc})") from None
        ok = (
            isinstance(data, dict)
            and data.get("format") == FORMAT
            and data.get("model") == self.model
            and data.get("dim") == self.dim
            and isinstance(data.get("count"), int)
            and isinstance(data.get("generation"), int)
            and data["count"] >= 0
        )
        if not ok:
            raise CorruptStoreError(f"{self.meta_path}: not an embeddings index of {self.model} ({self.dim}-d)")
        return data

    def _write_meta(self, count: int, generation: int) -> None:
        data = {
            "format": FORMAT,
            "version": VERSION,
            "model": self.model,
            "dim": self.dim,
            "count": count,
            "generation": generation,
            "updated": datetime.now(UTC).isoformat(timespec="microseconds"),
        }
        tmp = self.meta_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(self.meta_path)

    def check(self) -> tuple[int, int]:
        """(count, generation) after cutting off an interrupted append. Raises CorruptStoreError."""
        meta = self._read_meta()
        count, generation = int(meta["count"]), int(meta["generation"])  # type: ignore[call-overload]
        vec_path, ids_path = self._files(generation)
        for path, size in ((vec_path, count * self.dim * 2), (ids_path, count * 8)):
            actual = path.stat().st_size if path.is_file() else -1
            if actual < size:
                have = "is missing" if actual < 0 else f"has {actual} bytes"
                raise CorruptStoreError(f"{path}: {have}, {count} rows of {self.model} need {size} (truncated)")
            if actual > size:  # an append that crashed before the JSON was replaced
                with open(path, "r+b") as fh:
                    fh.truncate(size)
        return count, generation

    # --- reading --------------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The stored embeddings, one row per image (the newest row when an image was embedded twice)."""
        for _attempt in range(3):  # a compaction may switch generations between reading the JSON and the files
            count, generation = self.check()
            vec_path, ids_path = self._files(generation)
            try:
                ids = np.fromfile(ids_path, dtype="<i8", count=count)
                vectors: np.ndarray = (
                    np.memmap(vec_path, dtype="<f2", mode="r", shape=(count, self.dim))
                    if count
                    else np.zeros((0, self.dim), np.float16)
                )
            except FileNotFoundError:
                continue
            if count and not bool(np.all(ids[1:] > ids[:-1])):  # not strictly ascending: sort, keep newest
                order = np.argsort(ids, kind="stable")
                sorted_ids = ids[order]
                last = np.ones(len(order), dtype=bool)
                last[:-1] = sorted_ids[1:] != sorted_ids[:-1]
                rows = order[last]
                ids, vectors = sorted_ids[last], np.asarray(vectors[rows])
            return Snapshot(self.model, self.dim, ids.astype(np.int64), vectors)
        raise CorruptStoreError(f"{self.meta_path}: files kept changing while being read")

    def raw(self) -> tuple[int, np.ndarray, np.ndarray]:
        """(generation, ids in row order, float16 memmap rows) as appended, superseded rows included; for an
        index that is built from the rows in the order they were written and extended as more are appended."""
        count, generation = self.check()
        vec_path, ids_path = self._files(generation)
        ids = np.fromfile(ids_path, dtype="<i8", count=count).astype(np.int64)
        if not count:
            return generation, ids, np.zeros((0, self.dim), np.float16)
        return generation, ids, np.memmap(vec_path, dtype="<f2", mode="r", shape=(count, self.dim))

    def side_file(self, generation: int, suffix: str) -> Path:
        """A file that belongs to one generation of this store (removed with it), e.g. a search index."""
        return self.folder / f"{self.key}.g{generation}.{suffix}"

    def stored_ids(self) -> set[int]:
        return {int(i) for i in self.snapshot().ids}

    # --- writing --------------------------------------------------------------------------------------------

    def append(self, image_ids: list[int], vectors: np.ndarray) -> None:
        """Add rows (float32 or float16, one per id). Raises ValueError for a wrong width or non-finite values."""
        array = np.asarray(vectors, dtype=np.float32)
        if array.ndim != 2 or array.shape[1] != self.dim or array.shape[0] != len(image_ids):
            raise ValueError(f"{self.model}: expected {len(image_ids)} rows of {self.dim}, got {array.shape}")
        if not np.all(np.isfinite(array)):
            raise ValueError(f"{self.model}: embedding has non-finite values")
        if not image_ids:
            return
        with _write_lock:
            self.folder.mkdir(parents=True, exist_ok=True)
            if self.exists():
                count, generation = self.check()
            else:
                count, generation = 0, 0
                for path in self._files(generation):
                    path.unlink(missing_ok=True)
            vec_path, ids_path = self._files(generation)
            with open(vec_path, "ab") as fh:
                fh.write(array.astype("<f2").tobytes())
                fh.flush()
                os.fsync(fh.fileno())
            with open(ids_path, "ab") as fh:
                fh.write(np.asarray(image_ids, dtype="<i8").tobytes())
                fh.flush()
                os.fsync(fh.fileno())
            self._write_meta(count + len(image_ids), generation)

    def compact(self, keep: set[int]) -> int:
        """Rewrite without the images not in `keep` (deleted ones) and without superseded rows; returns rows dropped."""
        with _write_lock:
            snap = self.snapshot()
            mask = np.isin(snap.ids, np.fromiter(keep, dtype=np.int64, count=len(keep)))
            _count, generation = self.check()
            dropped = _count - int(mask.sum())
            if dropped == 0:
                return 0
            new_gen = generation + 1
            vec_path, ids_path = self._files(new_gen)
            np.asarray(snap.vectors[mask], dtype="<f2").tofile(vec_path)
            snap.ids[mask].astype("<i8").tofile(ids_path)
            self._write_meta(int(mask.sum()), new_gen)
            for path in self.folder.glob(f"{self.key}.g{generation}.*"):
                path.unlink(missing_ok=True)  # the old rows and any index built on them
            return dropped

    def discard(self) -> None:
        """Remove this store's files (used to rebuild a corrupt store); other stores are untouched."""
        with _write_lock:
            for path in self.folder.glob(f"{self.key}.*"):
                if path.name == self.meta_path.name or re.fullmatch(
                    re.escape(self.key) + r"\.(g\d+\.\w+|json\.tmp)", path.name
                ):
                    path.unlink(missing_ok=True)
