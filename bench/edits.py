"""Manual-edit latency of EditService (what the details panel's batch editor and undo run on the write pool).

    uv run python bench/edits.py --images 10000

Inserts N image rows with five model tags each straight into a temporary project, then times each batch edit
over all N images and its undo, plus the single-image edit and details read the panel does on every click.
Prints milliseconds per operation. Everything happens in a temporary folder.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="lorairo-bench-edits-"))
    os.environ["LORAIRO_CONFIG_PATH"] = str(home / "config" / "lorairo.toml")
    os.environ["LORAIRO_DATABASE_DIR"] = str(home / "projects")

    from sqlalchemy import insert

    from lorairo.database.schema import ImageRecord, TagRecord
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.edit_service import EditCommand, EditResult, EditService
    from lorairo.services.project_service import ProjectService

    project = ProjectService(ConfigurationService()).create("bench")
    n = args.images
    with project.db.session(write=True) as s:
        s.execute(
            insert(ImageRecord),
            [
                {
                    "file_path": f"images/{i}.png",
                    "file_name": f"{i}.png",
                    "original_path": f"/src/{i}.png",
                    "file_size": 1,
                    "width": 512,
                    "height": 512,
                    "format": "PNG",
                    "mode": "RGB",
                    "hash_value": hashlib.sha256(str(i).encode()).hexdigest(),
                    "phash": "0" * 16,
                    "phash_int": 0,
                }
                for i in range(n)
            ],
        )
        s.execute(
            insert(TagRecord),
            [
                {"image_id": i + 1, "tag": tag, "category": "general", "source": "model"}
                for i in range(n)
                for tag in ("cat", "sky", "tree", "1girl", "solo")
            ],
        )
    service = EditService(project)
    ids = list(range(1, n + 1))

    def timed(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        value = fn()
        print(f"{name:<36} {(time.perf_counter() - start) * 1000:9.0f} ms")
        return value

    def undo(result: EditResult) -> EditResult:
        return EditCommand(result).undo(service)

    added = timed(f"add tag to {n} images", lambda: service.add_tags(ids, ["outdoors"]))
    timed("  undo", lambda: undo(added))
    removed = timed(f"remove model tag from {n} images", lambda: service.remove_tags(ids, ["cat"]))
    timed("  undo", lambda: undo(removed))
    renamed = timed(f"replace tag on {n} images", lambda: service.rename_tag(ids, "sky", "blue sky"))
    timed("  undo", lambda: undo(renamed))
    rated = timed(f"set rating on {n} images", lambda: service.set_rating(ids, "general"))
    timed("  undo", lambda: undo(rated))
    timed(f"set score on {n} images", lambda: service.set_score(ids, 7))
    timed(f"tag counts of {n} images", lambda: service.tag_counts(ids))
    timed("details of one image", lambda: service.get_image_details(n // 2))
    timed("add tag to one image", lambda: service.add_tags([n // 2], ["x"]))
    timed("caption of one image", lambda: service.set_caption(n // 2, "a caption"))
    project.close()


if __name__ == "__main__":
    main()
