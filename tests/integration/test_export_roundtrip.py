"""Round trip: export a kohya folder, import it into a new project with the import service, same tags back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import select

from lorairo.database.schema import ImageRecord, TagRecord
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export_service import ExportService
from lorairo.services.image_processing_service import ImageProcessingService
from lorairo.services.project_service import ProjectService
from tests.support.export_data import ImageSpec, add_images, simple_tags

TAGS = {
    "a.png": ["1girl", "photo (medium)", "^_^", "(o)_(o)", "long hair", "looking at viewer", "smile"],
    "b.png": ["landscape", "x_x", "hello world", "blue sky", "{braced}"],
    "c.png": ["cat", "||_||", "no humans", "character (series)"],
}


def test_export_then_import_gives_the_same_tags(tmp_path: Path) -> None:
    config = ConfigurationService()
    projects = ProjectService(config)
    source = projects.create("src")
    try:
        add_images(
            source,
            [
                ImageSpec(name, (512 + 64 * i, 512), tags=simple_tags(*tags))
                for i, (name, tags) in enumerate(TAGS.items())
            ],
        )
        # give every image distinct content so the import never sees near-duplicates
        for n, path in enumerate(sorted(source.root.glob("images/*/*.png"))):
            rng = np.random.default_rng(n)
            with Image.open(path) as im:
                size = im.size
            Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(path)
        service = ExportService(config, source)
        options = service.default_options(
            tmp_path / "out", trigger_words=("sks",), order_by_category=False, resolution=None
        )
        result = service.export(options)
    finally:
        source.close()
    assert result.exported == 3

    target = projects.create("dst")
    try:
        summary = ImageProcessingService(config, target).import_paths([result.image_dir])
        assert summary is not None
        with target.db.session() as s:
            names = {row[0]: row[1] for row in s.execute(select(ImageRecord.id, ImageRecord.file_name))}
            back: dict[str, list[str]] = {name: [] for name in names.values()}
            for tag in s.scalars(select(TagRecord).order_by(TagRecord.id)):
                back[names[tag.image_id]].append(tag.tag)
    finally:
        target.close()
    assert back == {name: ["sks", *tags] for name, tags in TAGS.items()}
