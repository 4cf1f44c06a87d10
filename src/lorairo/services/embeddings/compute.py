"""Computing image embeddings: `lorairo embed` (new images only, stored chunk by chunk, cancellable) and the hook
that stores the embeddings annotation runs return (embedding models, aesthetic scorers)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from loguru import logger
from PIL import Image
from sqlalchemy import select

from lorairo.annotations import ai_annotator
from lorairo.annotations.ai_annotator import ModelOutput
from lorairo.database.chunks import chunked
from lorairo.database.schema import ImageRecord
from lorairo.services.embeddings.common import EMBEDDING_KINDS, EmbeddingError, all_image_ids
from lorairo.services.embeddings.index import EXACT_LIMIT, build_ivf
from lorairo.services.project_service import Project
from lorairo.storage.embeddings import CorruptStoreError, EmbeddingStore
from lorairo.storage.layout import image_path
from lorairo.storage.lock import ProjectLock

ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class EmbedSummary:
    model: str
    embedded: int = 0
    already: int = 0
    failed: int = 0
    failure_reasons: dict[str, int] = field(default_factory=dict)
    removed: int = 0  # rows of deleted images (and rows superseded by a re-run) dropped from the store
    rebuilt: str | None = None  # why a damaged store was discarded and rebuilt
    cancelled: bool = False
    elapsed: float = 0.0
    dim: int | None = None


def _store_for(project: Project, model: str, dim: int) -> tuple[EmbeddingStore, str | None]:
    """The store for (model, width), discarding it first when it is damaged; returns (store, why rebuilt)."""
    store = EmbeddingStore(project.root, model, dim)
    if not store.exists():
        return store, None
    try:
        store.check()
        return store, None
    except CorruptStoreError as exc:
        logger.warning("embeddings store damaged, rebuilding: {}", exc)
        store.discard()
        return store, str(exc)


def store_embeddings(project: Project, outputs: dict[int, list[ModelOutput]]) -> int:
    """Append the embeddings carried by annotation outputs (embedding models, aesthetic scorers); returns rows.

    Called after annotation results are stored. Never raises: the annotations are safe in the database
    whatever happens here, and `lorairo embed` fills any gap later.
    """
    grouped: dict[tuple[str, int], tuple[list[int], list[np.ndarray]]] = {}
    for image_id, per_model in outputs.items():
        for output in per_model:
            emb = output.embedding
            if not output.ok or emb is None:
                continue
            row = np.asarray(emb, dtype=np.float32).reshape(-1)
            ids, rows = grouped.setdefault((output.model_name, len(row)), ([], []))
            ids.append(image_id)
            rows.append(row)
    written = 0
    for (model, dim), (ids, rows) in grouped.items():
        try:
            store, _ = _store_for(project, model, dim)
            store.append(ids, np.stack(rows))
            written += len(ids)
        except Exception:
            logger.exception("could not store {} embeddings of {}", len(ids), model)
    return written


def _load_image(path: object) -> Image.Image:
    image = Image.open(path)  # type: ignore[arg-type]
    image.load()
    return image


class Embedder:
    """Computes and stores one project's embeddings."""

    def __init__(self, project: Project, *, api_keys: dict[str, str] | None = None, workers: int = 2) -> None:
        self.project = project
        self.api_keys = api_keys or {}
        self.workers = workers

    def all_ids(self) -> list[int]:
        return all_image_ids(self.project)

    def embed(
        self,
        model: str,
        image_ids: Sequence[int] | None = None,
        *,
        batch_size: int = 32,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> EmbedSummary:
        """Embed the images (all by default) that `model` has not embedded yet; stores each chunk as it finishes.

        Raises:
            ProjectBusyError: another writer (import, annotation) holds the project.
            EmbeddingError: the model is unknown or not an embedding model / aesthetic scorer.
        """
        with ProjectLock(self.project.root, "annotate"):
            return self._embed_locked(model, image_ids, batch_size, progress, cancel)

    def _embed_locked(
        self,
        model: str,
        image_ids: Sequence[int] | None,
        batch_size: int,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
    ) -> EmbedSummary:
        started = time.perf_counter()
        known = {m.name: m for m in ai_annotator.get_available_annotator_models(self.api_keys)}
        info = known.get(model)
        if info is None:
            embedders = ", ".join(sorted(n for n, m in known.items() if m.kind == "embedding")) or "none"
            raise EmbeddingError(f"unknown model {model!r}; embedding models: {embedders}")
        if info.kind not in EMBEDDING_KINDS:
            raise EmbeddingError(f"{model} is a {info.kind}, not an embedding model or aesthetic scorer")
        if not info.available:  # say it once, not once per image
            needs = "; ".join(info.needs) or "it cannot be loaded"
            fix = f"; get them once, online: `lorairo models download {model}`" if "files" in needs else ""
            raise EmbeddingError(f"{model} is not ready: {needs.split(' (run:')[0]}{fix}")
        existing = self.all_ids()
        wanted = existing if image_ids is None else [i for i in dict.fromkeys(image_ids) if i in set(existing)]
        removed = 0
        rebuilt: str | None = None
        stored: set[int] = set()
        stores = EmbeddingStore.stores_of(self.project.root, model)
        current_dim = stores[0].dim if stores else None
        if stores and wanted:
            # One image tells whether the model (its files may have been swapped) still gives that width; a new
            # width starts a new store rather than mixing vectors that cannot be compared.
            width = self._probe_width(model, wanted[0])
            if width is not None and width != current_dim:
                logger.info("{} now gives {}-d embeddings: a new store; the {}-d one is kept apart", model, width,
                            current_dim)  # fmt: skip
                current_dim = width
        if current_dim is not None:
            store, rebuilt = _store_for(self.project, model, current_dim)
            if store.exists():
                removed = store.compact(set(existing))  # rows of deleted images go
                stored = store.stored_ids()
        todo = [i for i in wanted if i not in stored]
        already = len(wanted) - len(todo)
        paths = self._paths(todo)
        embedded = failed = 0
        reasons: dict[str, int] = {}
        dim: int | None = None
        cancelled = False
        total = len(todo)
        stores_by_dim: dict[int, EmbeddingStore] = {}
        stored_by_dim: dict[int, set[int]] = {}
        if progress:
            progress(0, total, f"{already} already embedded")
        with ThreadPoolExecutor(max_workers=max(1, self.workers), thread_name_prefix="embed-decode") as pool:
            for chunk in chunked(todo, batch_size):
                if cancel is not None and cancel.is_set():
                    cancelled = True
                    break
                ids, vectors, errors = self._embed_chunk(model, chunk, paths, pool, cancel)
                if errors.get("cancelled"):
                    cancelled = True
                    errors.pop("cancelled")
                for reason, n in errors.items():
                    reasons[reason] = reasons.get(reason, 0) + n
                    failed += n
                if ids:
                    width = vectors.shape[1]
                    if width not in stored_by_dim:  # first chunk, or the width changed during the run
                        store, why = _store_for(self.project, model, width)
                        rebuilt = rebuilt or why
                        stores_by_dim[width] = store
                        stored_by_dim[width] = (
                            stored if width == current_dim else store.stored_ids() if store.exists() else set()
                        )
                    dim = width
                    keep = [k for k, i in enumerate(ids) if i not in stored_by_dim[width]]
                    stores_by_dim[width].append([ids[k] for k in keep], vectors[keep])
                    stored_by_dim[width].update(ids[k] for k in keep)
                    embedded += len(keep)
                if progress:
                    progress(min(embedded + failed, total), total, f"{embedded} embedded")
                if cancelled:
                    break
        if not cancelled and dim is not None:
            self._refresh_index(stores_by_dim[dim], progress)
        return EmbedSummary(
            model=model, embedded=embedded, already=already, failed=failed, failure_reasons=reasons,
            removed=removed, rebuilt=rebuilt, cancelled=cancelled, elapsed=time.perf_counter() - started, dim=dim,
        )  # fmt: skip

    @staticmethod
    def _refresh_index(store: EmbeddingStore, progress: ProgressCallback | None) -> None:
        """Large stores: bring the persisted search index up to date now, not on the user's first query."""
        count, _generation = store.check()
        if count <= EXACT_LIMIT:
            return

        def say(message: str) -> None:
            if progress:
                progress(count, count, message)

        build_ivf(store, progress=say)

    def _probe_width(self, model: str, image_id: int) -> int | None:
        """The width of `model`'s embedding of one image (None when that image cannot be embedded)."""
        with ThreadPoolExecutor(max_workers=1) as pool:
            _ids, vectors, _errors = self._embed_chunk(model, [image_id], self._paths([image_id]), pool, None)
        return int(vectors.shape[1]) if len(vectors) else None

    def _paths(self, image_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
        found: dict[int, tuple[str, str]] = {}
        with self.project.db.session() as session:
            for chunk in chunked(list(image_ids)):
                rows = session.execute(
                    select(ImageRecord.id, ImageRecord.file_path, ImageRecord.phash).where(ImageRecord.id.in_(chunk))
                )
                found.update({int(i): (str(p), str(h)) for i, p, h in rows})
        return found

    def _embed_chunk(
        self,
        model: str,
        chunk: Sequence[int],
        paths: dict[int, tuple[str, str]],
        pool: ThreadPoolExecutor,
        cancel: threading.Event | None,
    ) -> tuple[list[int], np.ndarray, dict[str, int]]:
        errors: dict[str, int] = {}
        futures = {i: pool.submit(_load_image, image_path(self.project, paths[i][0])) for i in chunk if i in paths}
        images: dict[int, Image.Image] = {}
        for image_id, future in futures.items():
            try:
                images[image_id] = future.result()
            except Exception as exc:
                logger.warning("{}: cannot read image ({})", paths[image_id][0], exc)
                errors["invalid_image"] = errors.get("invalid_image", 0) + 1
        order = list(images)
        keys = [f"{paths[i][1]}-{i}" for i in order]  # unique per image even when two share a pHash
        try:
            results = ai_annotator.call_annotate_library(
                [images[i] for i in order], [model], keys, api_keys=self.api_keys, cancel=cancel
            ) if order else {}  # fmt: skip
        finally:
            for image in images.values():
                image.close()
        ids: list[int] = []
        rows: list[np.ndarray] = []
        for image_id, key in zip(order, keys, strict=True):
            output = results.get(key, {}).get(model)
            if output is None or not output.ok or output.embedding is None:
                reason = (output.error_code if output is not None else None) or "no_embedding"
                errors[reason] = errors.get(reason, 0) + 1
                if output is not None and output.error_message and reason != "cancelled":
                    logger.warning("image {}: {}", image_id, output.error_message)
                continue
            ids.append(image_id)
            rows.append(np.asarray(output.embedding, dtype=np.float32).reshape(-1))
        widths = {len(r) for r in rows}
        if len(widths) > 1:
            raise EmbeddingError(f"{model} returned embeddings of different widths {sorted(widths)}")
        return ids, (np.stack(rows) if rows else np.zeros((0, 0), np.float32)), errors
