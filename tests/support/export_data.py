"""Build projects with generated images and annotations straight through the ORM (export tests and bench)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from lorairo.database.schema import (
    CaptionRecord,
    ImageRecord,
    ModelRecord,
    QualityScoreRecord,
    RatingRecord,
    TagRecord,
)
from lorairo.services.project_service import Project

# (tag, category, source, confidence, rejected)
TagSpec = tuple[str, str | None, str, float | None, bool]


@dataclass
class ImageSpec:
    name: str  # original file name, e.g. "cat.png"
    size: tuple[int, int] = (640, 480)
    fmt: str = "PNG"
    mode: str = "RGB"
    tags: list[TagSpec] = field(default_factory=list)
    caption: str | None = None
    caption_source: str = "manual"
    rating: str | None = None
    aesthetic: float | None = None
    excluded: bool = False
    exif_orientation: int = 1
    referenced_at: Path | None = None  # store outside the project (absolute file_path)
    colour: tuple[int, int, int] = (200, 80, 40)


def _write_image(spec: ImageSpec, path: Path, seed: int) -> None:
    w, h = spec.size
    img = Image.new(spec.mode if spec.mode != "P" else "RGB", (w, h), spec.colour)
    # A distinct pattern per image, so hashes differ and crops are visible.
    for x in range(0, w, max(1, w // 8)):
        for y in range(0, h, max(1, h // 8)):
            img.putpixel((x, y), ((seed * 37 + x) % 256, (seed * 11 + y) % 256, seed % 256))
    if spec.mode == "RGBA":
        alpha = Image.new("L", (w, h), 0)
        alpha.paste(255, (w // 4, h // 4, 3 * w // 4, 3 * h // 4))
        img.putalpha(alpha)
    if spec.mode == "P":
        img = img.convert("P")
    path.parent.mkdir(parents=True, exist_ok=True)
    kwargs = {}
    if spec.exif_orientation != 1:
        exif = Image.Exif()
        exif[0x0112] = spec.exif_orientation
        kwargs["exif"] = exif.tobytes()
    img.save(path, spec.fmt, **kwargs)


def add_images(project: Project, specs: list[ImageSpec]) -> list[int]:
    """Write each image file and its rows; returns the new image ids in order."""
    ids: list[int] = []
    with project.db.session(write=True) as s:
        model = s.query(ModelRecord).filter_by(name="wd-test").one_or_none()
        if model is None:
            model = ModelRecord(name="wd-test", provider="local", kind="tagger")
            s.add(model)
            s.flush()
        base = s.query(ImageRecord).count()
        for n, spec in enumerate(specs, start=base):
            ext = Path(spec.name).suffix or ".png"
            if spec.referenced_at is not None:
                path = spec.referenced_at / spec.name
                _write_image(spec, path, n)
                file_path = str(path.resolve())
            else:
                rel = Path("images") / f"{n:02d}" / f"img{n}{ext}"
                path = project.root / rel
                _write_image(spec, path, n)
                file_path = rel.as_posix()
            data = path.read_bytes()
            w, h = spec.size
            if spec.exif_orientation in (5, 6, 7, 8):
                w, h = h, w
            rec = ImageRecord(
                file_path=file_path,
                file_name=spec.name,
                original_path=str(path),
                stored_in_project=spec.referenced_at is None,
                file_size=len(data),
                width=w,
                height=h,
                format="JPEG" if spec.fmt == "JPEG" else spec.fmt,
                mode=spec.mode,
                has_alpha=spec.mode in ("RGBA", "LA"),
                exif_orientation=spec.exif_orientation,
                hash_value=hashlib.sha256(data).hexdigest(),
                phash=f"{n:016x}",
                phash_int=n,
                excluded=spec.excluded,
            )
            s.add(rec)
            s.flush()
            for tag, category, source, confidence, rejected in spec.tags:
                s.add(
                    TagRecord(
                        image_id=rec.id,
                        tag=tag,
                        category=category,
                        source=source,
                        model_id=model.id if source == "model" else None,
                        confidence=confidence,
                        is_rejected=rejected,
                    )
                )
            if spec.caption is not None:
                s.add(CaptionRecord(image_id=rec.id, text=spec.caption, source=spec.caption_source))
            if spec.rating is not None:
                s.add(RatingRecord(image_id=rec.id, label=spec.rating, source="model", model_id=model.id))
            if spec.aesthetic is not None:
                s.add(
                    QualityScoreRecord(
                        image_id=rec.id,
                        score_name="aesthetic_v2",
                        value=spec.aesthetic,
                        scale_min=1.0,
                        scale_max=10.0,
                        source="model",
                    )
                )
            ids.append(rec.id)
    return ids


def simple_tags(*names: str, source: str = "model", confidence: float = 0.9) -> list[TagSpec]:
    return [(n, "general", source, confidence, False) for n in names]
