"""Fingerprint every file and the result of an export in every format, to compare two versions of the exporter.

Builds one small project (collisions, several captions, masks, crops, transparency, ratings, scores, an image
with an empty caption, an excluded one; enough images to go through the worker pool), exports it in every
format and a few option variants to fixed folders under ``--out``, and prints one JSON manifest: per export,
the sha256 of every file written (by relative path) and the result's fields. Run it on two commits with the
same ``--out`` and diff the manifests: the export of a version that only changed *how* files are written must
be byte-identical.

    uv run python bench/export_golden.py --out /tmp/golden > before.json   # on the old commit
    uv run python bench/export_golden.py --out /tmp/golden > after.json    # on the new one
    diff before.json after.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("kohya", {}),
    ("kohya", {"relative_paths": True, "all_captions": True}),
    ("kohya-json", {}),
    ("kohya-jsonl", {"relative_paths": True, "all_captions": True}),
    ("hf", {"all_captions": True, "single_caption": "longest"}),
    ("onetrainer", {}),
    ("kohya-json", {"trigger_words": ()}),
    ("hf", {}),
    ("simpletuner", {}),
    ("ai-toolkit", {}),
    ("diffusion-pipe", {}),
    ("diffusion-pipe", {"all_captions": True}),
    ("musubi", {}),
    ("musubi", {"musubi_jsonl": True, "relative_paths": True}),
]


def build(project: Any) -> list[int]:
    from PIL import Image

    from lorairo.database.schema import CaptionRecord, ImageRecord
    from lorairo.services.regions import Crop, RegionService
    from tests.support.export_data import ImageSpec, add_images, simple_tags

    specs = [
        ImageSpec(
            ["a.png", "a.jpg", "A.webp", f"img{i}.png", "x-masklabel.png", "wide.jpg"][i % 6],
            [(96, 64), (64, 96), (80, 80), (120, 60)][i % 4],
            fmt=["PNG", "JPEG", "WEBP", "PNG", "PNG", "JPEG"][i % 6],
            mode="RGBA" if i % 11 == 3 and i % 6 in (0, 3, 4) else "RGB",
            tags=[] if i == 7 else simple_tags("smile", f"tag_{i % 5}", "long_hair (cosplay)"),
            caption=f"A photo, number {i}. It is nice." if i % 4 == 0 else None,
            rating=["general", "sensitive", None][i % 3],
            aesthetic=(i % 10) + 0.5 if i % 2 else None,
            excluded=i % 13 == 12,
        )
        for i in range(60)
    ]
    ids = add_images(project, specs)
    with project.db.session(write=True) as s:
        for image_id in ids[1::9]:
            s.add(CaptionRecord(image_id=image_id, text="a second caption", source="manual"))
            s.add(CaptionRecord(image_id=image_id, text="and a third, longer caption", source="manual"))
    regions = RegionService(project)
    for image_id in ids[2::10]:
        mask = Image.new("L", (120, 120), 0)
        mask.paste(255, (10, 10, 50, 50))
        regions.set_mask(image_id, mask)
    for image_id in ids[5::10]:
        regions.set_crop(image_id, Crop(4, 4, 40, 40))
    with project.db.session() as s:
        broken = s.get(ImageRecord, ids[9])
        assert broken is not None
        (project.root / broken.file_path).write_bytes(b"not an image")  # one per-image failure in every export
    return ids


def fingerprint(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def result_fields(result: Any) -> dict[str, Any]:
    fields = {k: v for k, v in vars(result).items() if k not in ("elapsed_s",)} if hasattr(result, "__dict__") else {}
    if not fields:
        from dataclasses import asdict

        fields = {k: v for k, v in asdict(result).items() if k != "elapsed_s"}
    return json.loads(json.dumps(fields, default=str))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="fixed folder the exports are written under")
    args = parser.parse_args()
    out = args.out.resolve()
    home = out / "home"  # fixed, so failure messages (which name the source path) compare equal
    shutil.rmtree(home, ignore_errors=True)
    os.environ["LORAIRO_CONFIG_PATH"] = str(home / "config" / "lorairo.toml")
    os.environ["LORAIRO_DATABASE_DIR"] = str(home / "projects")
    os.environ["LORAIRO_MAX_WORKERS"] = "2"
    from lorairo.services.configuration_service import ConfigurationService
    from lorairo.services.export_service import ExportService
    from lorairo.services.project_service import ProjectService

    project = ProjectService(ConfigurationService()).create("golden")
    try:
        build(project)
        service = ExportService(ConfigurationService(), project)
        manifest: dict[str, Any] = {}
        for n, (fmt, overrides) in enumerate(VARIANTS):
            target = out / f"{n:02d}-{fmt}"
            if target.exists():
                shutil.rmtree(target)
            opts = service.default_options(
                target, **{"format": fmt, "trigger_words": ("sks",), "repeats": 3, "resolution": 64, **overrides}
            )
            result = service.export(opts)
            manifest[target.name] = {"files": fingerprint(target), "result": result_fields(result)}
        json.dump(manifest, sys.stdout, indent=1, sort_keys=True)
        print()
    finally:
        project.close()
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
