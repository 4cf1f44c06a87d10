"""What the embeddings modules share: the default model, which model kinds give embeddings, the error type."""

from __future__ import annotations

from sqlalchemy import select

from lorairo.database.schema import ImageRecord
from lorairo.exceptions import LoRAIroException
from lorairo.services.project_service import Project

EMBEDDING_KINDS = ("embedding", "scorer")  # scorers: the aesthetic towers' embeddings
SEMANTIC_LINK = "semantic"


class EmbeddingError(LoRAIroException):
    """A curation request cannot be answered (no embeddings, bad input); the message says what to do. `model` is
    set when computing that model's embeddings would answer it (the GUI offers to)."""

    def __init__(self, message: str, *, model: str | None = None) -> None:
        super().__init__(message)
        self.model = model


def embed_hint(project: Project, model: str) -> str:
    """The command that computes the missing embeddings, for messages."""
    return f"lorairo embed --project {project.name} --model {model}"


def all_image_ids(project: Project) -> list[int]:
    """Every image id of the project, ascending. Plain rows, sorted by SQLite along the primary key: ORM scalars
    plus a Python sort took 0.5 s at 100k images, half of `select --diverse`'s own work before diversity.py."""
    with project.db.session() as session:
        return [int(row[0]) for row in session.execute(select(ImageRecord.id).order_by(ImageRecord.id))]
