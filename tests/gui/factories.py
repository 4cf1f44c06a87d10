"""Projects with content for GUI tests: real image files for imports, SQL-inserted rows for big grids."""

from __future__ import annotations

import colorsys
import hashlib
from pathlib import Path

from PIL import Image

from lorairo.database.schema import ImageRecord, TagRecord
from lorairo.services.project_service import Project
from lorairo.storage.layout import thumbnail_path


def make_images(folder: Path, count: int, *, size: tuple[int, int] = (96, 64), bad: int = 0) -> list[Path]:
    """`count` distinct colourful PNGs (distinct enough not to be near-duplicates) plus `bad` corrupt ones."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        image = Image.new("RGB", size)
        r, g, b = (int(c * 255) for c in colorsys.hsv_to_rgb((i * 0.137) % 1.0, 0.8, 0.9))
        pixels = image.load()
        for x in range(size[0]):
            for y in range(size[1]):
                # a per-image pattern: different stripe directions and periods keep the pHashes apart
                on = ((x * (i % 5 + 1) + y * (i % 3 + 1)) // (4 + i % 7)) % 2
                pixels[x, y] = (r, g, b) if on else (255 - r, (g + 90 * (i % 3)) % 256, (b + i * 7) % 256)
        path = folder / f"img_{i:04d}.png"
        image.save(path)
        paths.append(path)
    for i in range(bad):
        path = folder / f"broken_{i}.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
        paths.append(path)
    return paths


def insert_images(project: Project, tags_by_index: list[list[str]], *, thumbnails: bool = True) -> list[int]:
    """Insert one image row per entry (with its tags) directly in SQL; write a small thumbnail for each."""
    ids = []
    with project.db.session(write=True) as s:
        for i, tags in enumerate(tags_by_index):
            digest = hashlib.sha256(f"image-{i}".encode()).hexdigest()
            record = ImageRecord(
                file_path=f"images/{digest[:2]}/{digest[:16]}_img_{i}.png",
                file_name=f"img_{i}.png",
                original_path=f"/src/img_{i}.png",
                file_size=1000,
                width=640,
                height=480,
                format="PNG",
                mode="RGB",
                hash_value=digest,
                phash=f"{i:016x}",
                phash_int=i,
            )
            s.add(record)
            s.flush()
            ids.append(record.id)
            s.add_all([TagRecord(image_id=record.id, tag=tag, source="model") for tag in tags])
    if thumbnails:
        for i in range(len(tags_by_index)):
            digest = hashlib.sha256(f"image-{i}".encode()).hexdigest()
            target = thumbnail_path(project, digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (48, 36), ((i * 40) % 256, 120, 200)).save(target, "JPEG")
    return ids
