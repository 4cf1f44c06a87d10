"""Repositories over a session (the seed's repository pattern).

A repository is bound to one Session, i.e. to one unit of work opened with `Database.session()`. Methods
return ORM objects attached to that session; services convert them to frozen dataclasses before handing them
to another thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lorairo.database.chunks import chunked
from lorairo.database.schema import ImageRecord, ImageSourceRecord, ModelRecord


class ImageRepository:
    """Images of a project."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def create(self, image_data: dict[str, Any]) -> ImageRecord:
        image = ImageRecord(**image_data)
        self.session.add(image)
        self.session.flush()
        return image

    def get_by_id(self, image_id: int) -> ImageRecord | None:
        return self.session.get(ImageRecord, image_id)

    def get_by_path(self, file_path: str) -> ImageRecord | None:
        return self.session.scalar(select(ImageRecord).where(ImageRecord.file_path == file_path))

    def get_by_hash(self, hash_value: str) -> ImageRecord | None:
        return self.session.scalar(select(ImageRecord).where(ImageRecord.hash_value == hash_value))

    def existing_hashes(self, hashes: Sequence[str]) -> dict[str, int]:
        """SHA-256 -> image id for the given hashes that are already registered (chunked IN queries)."""
        found: dict[str, int] = {}
        for chunk in chunked(hashes):
            rows = self.session.execute(
                select(ImageRecord.hash_value, ImageRecord.id).where(ImageRecord.hash_value.in_(chunk))
            )
            found.update({h: i for h, i in rows})  # noqa: C416 - rows are Row objects
        return found

    def list_all(self, limit: int = 100, offset: int = 0) -> list[ImageRecord]:
        stmt = select(ImageRecord).order_by(ImageRecord.id).limit(limit).offset(offset)
        return list(self.session.scalars(stmt))

    def count(self) -> int:
        return int(self.session.scalar(select(func.count(ImageRecord.id))) or 0)

    def add_source(self, image_id: int, source_path: str) -> None:
        """Record another path an image was found at (idempotent)."""
        exists = self.session.scalar(
            select(ImageSourceRecord.id).where(
                ImageSourceRecord.image_id == image_id, ImageSourceRecord.source_path == source_path
            )
        )
        if exists is None:
            self.session.add(ImageSourceRecord(image_id=image_id, source_path=source_path))


class ModelRepository:
    """Annotation models known to the project."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_or_create(self, name: str, *, provider: str, kind: str, framework: str | None = None) -> ModelRecord:
        model = self.session.scalar(select(ModelRecord).where(ModelRecord.name == name))
        if model is None:
            model = ModelRecord(name=name, provider=provider, kind=kind, framework=framework)
            self.session.add(model)
            self.session.flush()
        return model
