"""The `similar:` filter term: rank the images the other terms select by likeness to a text or an image.

`ImageQueryService` runs every other term as SQL (the candidates) and hands them to a `FilterRanker`, which
ranks them with the project's stored embeddings (docs/filters.md, "Similar images and text search"). The same
ranker serves `lorairo query`, every `--filter` and the GUI's filter bar, so a `similar:` filter means the same
everywhere. Qt-free; numpy and the model library load only when a `similar:` term is run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lorairo.services.embeddings.common import EmbeddingError, embed_hint
from lorairo.services.embeddings.defaults import DEFAULT_MODEL
from lorairo.services.filter_language import SimilarTo

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.embeddings.service import EmbeddingService
    from lorairo.services.project_service import Project


@dataclass(frozen=True)
class SimilarRanking:
    """What a `similar:` term kept: (image id, cosine) best first, the model used, and how many candidates had no
    embedding of it (left out; `hint` is the command that computes them)."""

    results: list[tuple[int, float]]
    model: str
    unembedded: int
    hint: str

    @property
    def ids(self) -> list[int]:
        return [image_id for image_id, _ in self.results]


def choose_model(service: EmbeddingService, wanted: str) -> str:
    """`similar_model:NAME`, else the project's only embedding model, else the default one when present."""
    found = service.models()
    project = service.project
    if wanted:
        if wanted not in found:
            have = f" (it has {', '.join(found)})" if found else ""
            raise EmbeddingError(
                f"project '{project.name}' has no embeddings of {wanted}{have}; compute them with "
                f"`{embed_hint(project, wanted)}`",
                model=wanted,
            )
        return wanted
    return service.resolve_model(
        None,
        choose_with=f"pick one with similar_model:{found[0] if found else DEFAULT_MODEL}",
        need="similar: needs image embeddings and ",
    )


def _text_vector(model: str, text: str, dim: int, project: Project) -> np.ndarray:
    import numpy as np

    from lorairo.annotations import ai_annotator

    try:
        encoded = np.asarray(ai_annotator.embed_text(model, [text]), dtype=np.float32)
    except Exception as exc:  # a scorer without a text tower, a missing model file: say which model and why
        raise EmbeddingError(
            f"{model} cannot encode text ({exc}); text search needs a CLIP / SigLIP embedding model with a text "
            "tower (README, 'Curation')"
        ) from exc
    if encoded.shape[-1] != dim:
        raise EmbeddingError(
            f"{model}'s text tower gives {encoded.shape[-1]}-d vectors, its stored image embeddings are {dim}-d; "
            f"re-embed with `{embed_hint(project, model)}`"
        )
    return encoded.reshape(-1)


def rank(
    service: EmbeddingService, term: SimilarTo, candidates: Sequence[int] | None, *, image_count: int | None = None
) -> SimilarRanking:
    """Rank `candidates` (None: every image of the project, `image_count` of them when known) for `term`; see
    docs/filters.md for what is kept."""
    import numpy as np

    project = service.project
    model = choose_model(service, term.model)
    index = service.index(model)
    hint = embed_hint(project, model)
    if term.image_id is not None:
        row, found = index.snapshot.rows_of(np.asarray([term.image_id], dtype=np.int64))
        if not len(found) or term.image_id not in index.live:
            if term.image_id not in set(service.all_ids()):
                raise EmbeddingError(f"similar:#{term.image_id}: no image with ID {term.image_id} in this project")
            raise EmbeddingError(
                f"image {term.image_id} has no embedding of {model} yet, so there is nothing to compare with; "
                f"compute it with `{hint}`",
                model=model,
            )
        query = np.asarray(index.snapshot.vectors[int(row[0])], dtype=np.float32)
    else:
        query = _text_vector(model, term.text, index.snapshot.dim, project)
    if candidates is None:
        wanted = None
        embedded = len(index.live)
        unembedded = max(0, (len(service.all_ids()) if image_count is None else image_count) - embedded)
    else:
        wanted = np.unique(np.asarray(list(candidates), dtype=np.int64))
        embedded = len(np.intersect1d(index.live, wanted, assume_unique=True))
        unembedded = len(wanted) - embedded
        if embedded == 0 and len(wanted):
            raise EmbeddingError(
                f"none of the {len(wanted)} images the other terms select has an embedding of {model}; compute "
                f"them with `{hint}`",
                model=model,
            )
    limit = term.limit
    results = index.search(query, embedded if limit is None else min(limit, embedded), wanted)
    if term.min_similarity is not None:
        results = [(i, s) for i, s in results if s >= term.min_similarity]
    return SimilarRanking(results, model, unembedded, hint)


class FilterRanker:
    """Ranks `similar:` candidates of one project. Keeps its EmbeddingService (the search index, the float32 rows)
    while the embeddings and the images stay as they were, so typing a search does not reload them each time.
    `config` configures the model library for text queries (the user's registered models); without one the
    user's default configuration is read. Thread-safe: one ranking at a time."""

    def __init__(self, project: Project, config: ConfigurationService | None = None) -> None:
        self.project = project
        self.config = config
        self._lock = threading.Lock()
        self._service: EmbeddingService | None = None
        self._key: tuple[object, ...] | None = None
        self._count: int | None = None  # images when the service was built, where known
        self._configured = False

    def _scalar(self, sql: str) -> int | None:
        from sqlalchemy import text

        with self.project.db.session() as session:
            value = session.execute(text(sql)).scalar()
        return None if value is None else int(value)

    def _key_now(self) -> tuple[object, ...]:
        """The embeddings files and the newest image: an embed run or an import builds a new service. (Counting
        the images costs 60-75 ms at 1M, so it is read only when every image is a candidate: see service().)"""
        from lorairo.storage.embeddings import EMBEDDINGS_DIR

        folder = self.project.root / EMBEDDINGS_DIR
        files = (
            tuple(sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()))
            if folder.is_dir()
            else ()
        )
        return files, self._scalar("SELECT max(id) FROM images")

    def service(self, image_count: int | None = None) -> EmbeddingService:
        """The cached service, rebuilt when the embeddings or the newest image changed, or when `image_count` (the
        project's images now, when the caller counted them) differs from the count it was built with (deletions:
        its set of live images would be stale)."""
        from lorairo.services.embeddings.service import EmbeddingService

        key = self._key_now()
        stale = image_count is not None and image_count != self._count
        if self._service is None or key != self._key or stale:
            self._service, self._key = EmbeddingService(self.project), key
            self._count = image_count
        elif image_count is not None:
            self._count = image_count
        return self._service

    def _configure(self) -> None:
        if self._configured:
            return
        from lorairo.services.annotation_service import configure_annotator_library
        from lorairo.services.configuration_service import ConfigurationService

        configure_annotator_library(self.config or ConfigurationService())
        self._configured = True

    def __call__(self, term: SimilarTo, candidates: Sequence[int] | None) -> SimilarRanking:
        with self._lock:
            if term.text:
                self._configure()
            # Candidates come from SQL (existing images only). Without them every image is one: count them, so a
            # deletion rebuilds the service and the note on images without an embedding is right.
            count = self._scalar("SELECT count(*) FROM images") if candidates is None else None
            return rank(self.service(count), term, candidates, image_count=count)
