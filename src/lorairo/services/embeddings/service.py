"""What image embeddings give the user: find similar, text search, semantic near-duplicates, outliers, a diverse
subset and clusters (computing them: compute.py). Qt-free; the CLI and the GUI call it.

Embeddings come from embedding models (CLIP / SigLIP towers) and from aesthetic scorers (their tower's
embedding is stored whenever they run). They live in `<project>/embeddings/` (storage/embeddings.py), one store per
model and width; reads keep only images still in the project, so a deleted image never comes back.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sqlalchemy import select

from lorairo.annotations import ai_annotator
from lorairo.database.chunks import chunked
from lorairo.database.schema import NearDuplicateRecord, QualityScoreRecord
from lorairo.services.edit_service import EditResult, EditService, SetExcluded
from lorairo.services.embeddings import vectors as vec
from lorairo.services.embeddings.common import (
    SEMANTIC_LINK,
    EmbeddingError,
    all_image_ids,
    embed_hint,
)
from lorairo.services.embeddings.compute import Embedder, EmbedSummary
from lorairo.services.embeddings.defaults import DEFAULT_DUPLICATE_THRESHOLD, DEFAULT_MODEL
from lorairo.services.embeddings.diversity import k_center_greedy
from lorairo.services.embeddings.index import VectorIndex
from lorairo.services.project_service import Project
from lorairo.storage.embeddings import EMBEDDINGS_DIR, CorruptStoreError, EmbeddingStore, Snapshot

ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class Ranked:
    """Image ids with scores (highest first), plus what could not be ranked."""

    model: str
    results: list[tuple[int, float]]
    missing: list[int]  # candidates without an embedding for this model


class EmbeddingService:
    """Embeddings of one open project."""

    def __init__(self, project: Project, *, api_keys: dict[str, str] | None = None, workers: int = 2) -> None:
        self.project = project
        self.api_keys = api_keys or {}
        self.workers = workers
        self._snapshots: dict[str, tuple[Snapshot, np.ndarray]] = {}
        self._stored_cache: dict[str, tuple[EmbeddingStore, Snapshot]] = {}
        self._indexes: dict[str, VectorIndex] = {}

    # --- ids ----------------------------------------------------------------------------------------------

    def all_ids(self) -> list[int]:
        return all_image_ids(self.project)

    # --- computing ----------------------------------------------------------------------------------------

    def embed(
        self,
        model: str,
        image_ids: Sequence[int] | None = None,
        *,
        batch_size: int = 32,
        progress: ProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> EmbedSummary:
        """Embed the images (all by default) that `model` has not embedded yet (see `Embedder.embed`)."""
        self._snapshots.clear()
        self._stored_cache.clear()
        self._indexes.clear()
        embedder = Embedder(self.project, api_keys=self.api_keys, workers=self.workers)
        return embedder.embed(model, image_ids, batch_size=batch_size, progress=progress, cancel=cancel)

    # --- reading ------------------------------------------------------------------------------------------

    def models(self) -> list[str]:
        """Models that have embeddings in this project."""
        return EmbeddingStore.models_in(self.project.root)

    def resolve_model(self, model: str | None, *, choose_with: str = "choose --model", need: str = "") -> str:
        """`model`, or the project's only embedded model, or the default embedding model when it has one.
        `choose_with` says how the caller picks a model when several are stored (the CLI's --model, the filter's
        `similar_model:`); `need` starts the no-embeddings message (e.g. "similar: needs image embeddings and ")."""
        if model:
            return model
        found = self.models()
        if len(found) == 1:
            return found[0]
        if DEFAULT_MODEL in found:
            return DEFAULT_MODEL
        if not found:
            raise EmbeddingError(
                f"{need}project '{self.project.name}' has no embeddings yet; compute them with "
                f"`{embed_hint(self.project, DEFAULT_MODEL)}` (or another embedding model)",
                model=DEFAULT_MODEL,
            )
        raise EmbeddingError(f"project '{self.project.name}' has embeddings of {', '.join(found)}: {choose_with}")

    def _stored(self, model: str) -> tuple[EmbeddingStore, Snapshot]:
        """The model's newest store and what it holds (all rows, deleted images included); cached per service."""
        if model in self._stored_cache:
            return self._stored_cache[model]
        stores = EmbeddingStore.stores_of(self.project.root, model)
        if not stores:
            raise EmbeddingError(
                f"no embeddings of {model} in project '{self.project.name}'; compute them with "
                f"`{embed_hint(self.project, model)}`"
            )
        try:
            snap = stores[0].snapshot()
        except CorruptStoreError as exc:
            raise EmbeddingError(
                f"the embeddings of {model} are damaged ({exc}); rebuild them with `{embed_hint(self.project, model)}`"
            ) from None
        self._stored_cache[model] = (stores[0], snap)
        return stores[0], snap

    def index(self, model: str) -> VectorIndex:
        """The search index of the model's embeddings over the images still in the project."""
        if model not in self._indexes:
            store, snap = self._stored(model)
            live = np.intersect1d(snap.ids, np.asarray(self.all_ids(), dtype=np.int64))
            self._indexes[model] = VectorIndex(store, snap, live)
        return self._indexes[model]

    def snapshot(self, model: str) -> tuple[Snapshot, np.ndarray]:
        """(stored embeddings of images still in the project, the same rows as float32); cached per service."""
        if model in self._snapshots:
            return self._snapshots[model]
        _store, snap = self._stored(model)
        rows, ids = snap.rows_of(np.asarray(self.all_ids(), dtype=np.int64))
        if len(rows) != len(snap):  # deleted images: filter them out on read
            snap = Snapshot(snap.model, snap.dim, ids, np.asarray(snap.vectors[rows]))
        result = (snap, vec.as_float32(snap.vectors))
        self._snapshots[model] = result
        return result

    def _missing(self, model: str, candidate_ids: Iterable[int] | None) -> tuple[np.ndarray | None, list[int]]:
        """(candidates as an id array or None for all, candidates without an embedding of `model`)."""
        index = self.index(model)
        if candidate_ids is None:
            return None, sorted(set(self.all_ids()) - set(index.live.tolist()))
        wanted = np.unique(np.asarray(list(candidate_ids), dtype=np.int64))
        return wanted, sorted(set(wanted.tolist()) - set(np.intersect1d(wanted, index.live).tolist()))

    def _subset(self, model: str, candidate_ids: Iterable[int] | None) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """(ids, float32 rows, candidates without an embedding) for the candidates (all images by default)."""
        snap, data = self.snapshot(model)
        if candidate_ids is None:
            everything = np.asarray(self.all_ids(), dtype=np.int64)
            return snap.ids, data, np.setdiff1d(everything, snap.ids, assume_unique=True).tolist()
        wanted = np.unique(np.asarray(list(candidate_ids), dtype=np.int64))
        rows, ids = snap.rows_of(wanted)
        missing = sorted(set(wanted.tolist()) - set(ids.tolist()))
        return ids, data[rows], missing

    # --- what embeddings give -----------------------------------------------------------------------------

    def similar(
        self, image_id: int, *, top: int = 50, model: str | None = None, candidate_ids: Iterable[int] | None = None
    ) -> Ranked:
        """The `top` images most like `image_id` (itself excluded), most similar first."""
        name = self.resolve_model(model)
        index = self.index(name)
        row, found = index.snapshot.rows_of(np.asarray([image_id], dtype=np.int64))
        if not len(found) or image_id not in index.live:
            if image_id not in set(self.all_ids()):
                raise EmbeddingError(f"no image with id {image_id} in project '{self.project.name}'")
            raise EmbeddingError(
                f"image {image_id} has no embedding of {name} yet; compute it with `{embed_hint(self.project, name)}`"
            )
        candidates, missing = self._missing(name, candidate_ids)
        query = np.asarray(index.snapshot.vectors[int(row[0])], dtype=np.float32)
        results = [(i, v) for i, v in index.search(query, top + 1, candidates) if i != image_id]
        return Ranked(name, results[:top], missing)

    def rank_by_text(
        self, text: str, *, candidate_ids: Iterable[int] | None = None, top: int | None = None, model: str | None = None
    ) -> Ranked:
        """Candidates ranked by similarity to `text` through the model's text tower, best first."""
        query = text.strip()
        if not query:
            raise EmbeddingError('the text query is empty: describe what to look for, e.g. "red dress on a beach"')
        name = self.resolve_model(model)
        index = self.index(name)
        candidates, missing = self._missing(name, candidate_ids)
        encoded = np.asarray(ai_annotator.embed_text(name, [query]), dtype=np.float32)
        if encoded.shape[-1] != index.snapshot.dim:
            raise EmbeddingError(
                f"{name}'s text tower gives {encoded.shape[-1]}-d vectors, its stored image embeddings are "
                f"{index.snapshot.dim}-d; re-embed with `{embed_hint(self.project, name)}`"
            )
        count = len(index.live) if candidates is None else len(candidates)
        return Ranked(name, index.search(encoded[0], count if top is None else top, candidates), missing)

    def outliers(
        self, *, top: int = 20, k: int = 5, model: str | None = None, candidate_ids: Iterable[int] | None = None
    ) -> Ranked:
        """Images far from their k nearest neighbours: score = 1 - mean cosine similarity to them, highest first."""
        name = self.resolve_model(model)
        ids, rows, missing = self._subset(name, candidate_ids)
        if len(ids) < 2:
            raise EmbeddingError(f"outliers need at least 2 embedded images, {len(ids)} have one")
        knn = vec.knn_similarities(rows, k)
        score = 1.0 - knn.mean(axis=1)
        best = vec.top_k(score, top)
        return Ranked(name, [(int(ids[i]), float(score[i])) for i in best], missing)

    def near_duplicate_pairs(
        self,
        *,
        threshold: float = DEFAULT_DUPLICATE_THRESHOLD,
        model: str | None = None,
        candidate_ids: Iterable[int] | None = None,
    ) -> tuple[str, list[tuple[int, int, float]], list[int]]:
        """(model, pairs (id, id, cosine) at or above `threshold`, images without an embedding)."""
        if not 0.0 < threshold <= 1.0:
            raise EmbeddingError(f"--threshold must be in (0, 1], got {threshold}")
        name = self.resolve_model(model)
        ids, rows, missing = self._subset(name, candidate_ids)
        pairs = [(int(ids[i]), int(ids[j]), s) for i, j, s in vec.similar_pairs(rows, threshold)]
        return name, pairs, missing

    def link_near_duplicates(self, pairs: Sequence[tuple[int, int, float]]) -> int:
        """Write pairs as near-duplicate links of kind 'semantic' (the near-duplicate review shows them beside the
        pHash groups); pairs already linked either way are left alone. Returns links added."""
        added = 0
        with self.project.db.session(write=True) as session:
            linked = {
                frozenset((int(a), int(b)))
                for a, b in session.execute(select(NearDuplicateRecord.image_id, NearDuplicateRecord.match_image_id))
            }
            for a, b, similarity in pairs:
                if frozenset((a, b)) in linked:
                    continue
                session.add(
                    NearDuplicateRecord(
                        image_id=max(a, b),
                        match_image_id=min(a, b),
                        distance=semantic_distance(similarity),
                        kind=SEMANTIC_LINK,
                    )
                )
                linked.add(frozenset((a, b)))
                added += 1
        return added

    def diverse(
        self,
        count: int,
        *,
        candidate_ids: Iterable[int] | None = None,
        model: str | None = None,
        weight_by: str | None = None,
    ) -> tuple[Ranked, list[int]]:
        """The `count` most diverse candidates (k-center greedy), optionally favouring a higher score `weight_by`
        (e.g. aesthetic_v2); returns (chosen in pick order, the other embedded candidates)."""
        if count < 1:
            raise EmbeddingError(f"--diverse must be at least 1, got {count}")
        name = self.resolve_model(model)
        ids, rows, missing = self._subset(name, candidate_ids)
        if len(ids) < count:
            extra = f" ({len(missing)} more have no embedding: `{embed_hint(self.project, name)}`)" if missing else ""
            raise EmbeddingError(
                f"the filter leaves {len(ids)} embedded images, fewer than the {count} asked for{extra}"
            )
        weights = self._weights(ids, weight_by) if weight_by else None
        chosen = k_center_greedy(rows, count, weights)
        chosen_ids = [int(ids[i]) for i in chosen]
        others = np.ones(len(ids), dtype=bool)
        others[chosen] = False
        rest = ids[others].tolist()  # ids are unique and ascending
        return Ranked(name, [(i, 1.0) for i in chosen_ids], missing), rest

    @property
    def _undo_file(self) -> Path:
        return self.project.root / EMBEDDINGS_DIR / "last-selection-undo.json"

    def apply_selection(self, chosen: Sequence[int], others: Sequence[int]) -> EditResult:
        """Include `chosen` and exclude `others` from export in one edit; its inverse is kept on disk so the
        command line can undo it (`undo_selection`). The GUI puts the returned result on its undo stack."""
        values = tuple((int(i), False) for i in chosen) + tuple((int(i), True) for i in others)
        result = EditService(self.project).apply(
            SetExcluded(values), f"Keep {len(chosen)} diverse images, exclude {len(others)}"
        )
        inverse = result.inverse
        if isinstance(inverse, SetExcluded):
            self._undo_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self._undo_file.with_suffix(".tmp")
            tmp.write_text(json.dumps({"description": result.description, "values": inverse.values}), "utf-8")
            tmp.replace(self._undo_file)
        return result

    def undo_selection(self) -> EditResult:
        """Put back the export exclusion flags the last `apply_selection` changed."""
        try:
            data = json.loads(self._undo_file.read_text(encoding="utf-8"))
            values = tuple((int(i), bool(v)) for i, v in data["values"])
        except FileNotFoundError:
            raise EmbeddingError("there is no diverse selection to undo in this project") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise EmbeddingError(f"{self._undo_file}: cannot be read ({exc})") from None
        result = EditService(self.project).apply(SetExcluded(values), f"Undo: {data.get('description', 'selection')}")
        self._undo_file.unlink(missing_ok=True)
        return result

    def _weights(self, ids: np.ndarray, score_name: str) -> np.ndarray:
        """0.5 .. 1.5 from the score's position on its scale; images without the score weigh 1."""
        values: dict[int, float] = {}
        with self.project.db.session() as session:
            for chunk in chunked(ids.tolist()):
                rows = session.execute(
                    select(
                        QualityScoreRecord.image_id,
                        QualityScoreRecord.value,
                        QualityScoreRecord.scale_min,
                        QualityScoreRecord.scale_max,
                    ).where(QualityScoreRecord.image_id.in_(chunk), QualityScoreRecord.score_name == score_name)
                )
                for image_id, value, low, high in rows:
                    span = (high - low) or 1.0
                    values[int(image_id)] = min(1.0, max(0.0, (value - low) / span))
        if not values:
            raise EmbeddingError(f"no image of the selection has a score named {score_name!r}")
        return np.asarray([0.5 + values.get(int(i), 0.5) for i in ids], dtype=np.float32)

    def clusters(
        self, k: int, *, candidate_ids: Iterable[int] | None = None, model: str | None = None, representatives: int = 5
    ) -> tuple[str, list[tuple[int, list[int]]], list[int]]:
        """(model, [(size, representative ids nearest the centre)] largest first, images without an embedding)."""
        if k < 1:
            raise EmbeddingError(f"--k must be at least 1, got {k}")
        name = self.resolve_model(model)
        ids, rows, missing = self._subset(name, candidate_ids)
        if len(ids) < k:
            raise EmbeddingError(f"{len(ids)} embedded images cannot make {k} clusters")
        labels, centroids = vec.kmeans(rows, k)
        out: list[tuple[int, list[int]]] = []
        for c in range(len(centroids)):
            members = np.nonzero(labels == c)[0]
            if not len(members):
                continue
            closeness = rows[members] @ centroids[c]
            reps = members[vec.top_k(closeness, representatives)]
            out.append((len(members), [int(ids[i]) for i in reps]))
        out.sort(key=lambda item: -item[0])
        return name, out, missing


def semantic_distance(similarity: float) -> int:
    """A semantic link's integer distance column: (1 - cosine) x 1000, so 0 is identical (like pHash's 0)."""
    return max(0, round((1.0 - similarity) * 1000))


def rank_by_text(
    project: Project, text: str, candidate_ids: Iterable[int] | None, *, model: str | None = None
) -> list[tuple[int, float]]:
    """For the filter parser's `similar:"text"` term: candidates (None: all) ranked by similarity to `text`,
    best first. Candidates without an embedding are left out. Raises EmbeddingError with what to do."""
    return EmbeddingService(project).rank_by_text(text, candidate_ids=candidate_ids, model=model).results
