"""Every image import accepts exports as an 8-bit image the trainers read correctly (issue 14, "Odd names and
files"): 16-bit big-endian TIFF, 1-bit PNG with transparency, APNG (first frame), Pillow's odd modes, and a JPEG
whose header the trainers' size reader cannot walk. An image that still cannot be written is reported and the
export goes on."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path

import imagesize
import numpy as np
import pytest
from PIL import Image

from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.export.imaging import _to_rgb_or_rgba
from lorairo.services.export_service import ExportService
from lorairo.services.project_service import Project, ProjectService
from tests.support.export_data import ImageSpec, add_images, simple_tags

W, H = 96, 64
GRADIENT = np.tile(np.linspace(0.0, 1.0, W), (H, 1))  # black on the left, white on the right


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("odd")
    yield project
    project.close()


def _rgb() -> Image.Image:
    return Image.fromarray((np.dstack([GRADIENT, 1 - GRADIENT, GRADIENT * 0.5]) * 255).astype(np.uint8))


def _grey_writers() -> dict[str, Callable[[Path], None]]:
    def tiff_16_big_endian(path: Path) -> None:
        Image.frombytes("I;16B", (W, H), (GRADIENT * 65535).astype(">u2").tobytes()).save(path, "TIFF")

    def png_16(path: Path) -> None:
        Image.fromarray((GRADIENT * 65535).astype(np.uint16)).save(path, "PNG")

    def tiff_32_int(path: Path) -> None:
        Image.fromarray((GRADIENT * 2**20).astype(np.int32), "I").save(path, "TIFF")

    def tiff_float(path: Path) -> None:
        Image.fromarray(GRADIENT.astype(np.float32), "F").save(path, "TIFF")

    def png_grey_alpha(path: Path) -> None:
        grey = Image.fromarray((GRADIENT * 255).astype(np.uint8))
        Image.merge("LA", [grey, Image.new("L", (W, H), 255)]).save(path, "PNG")

    return {
        "i16b.tif": tiff_16_big_endian,
        "i16.png": png_16,
        "i32.tif": tiff_32_int,
        "float.tif": tiff_float,
        "la.png": png_grey_alpha,
    }


def _colour_writers() -> dict[str, Callable[[Path], None]]:
    def cmyk_jpeg(path: Path) -> None:
        _rgb().convert("CMYK").save(path, "JPEG", quality=98)

    def cmyk_tiff(path: Path) -> None:
        _rgb().convert("CMYK").save(path, "TIFF")

    def ycbcr_tiff(path: Path) -> None:
        _rgb().convert("YCbCr").save(path, "TIFF")

    def lab_tiff(path: Path) -> None:
        _rgb().convert("LAB").save(path, "TIFF")

    def apng(path: Path) -> None:
        first = _rgb()
        first.save(path, "PNG", save_all=True, append_images=[first.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])

    def apng_with_a_broken_frame(path: Path) -> None:
        apng(path)
        data = bytearray(path.read_bytes())
        second = data.find(b"fdAT")  # the second frame's data: zeroed, its CRC no longer matches
        data[second + 20 : second + 40] = bytes(20)
        path.write_bytes(bytes(data))

    return {
        "cmyk.jpg": cmyk_jpeg,
        "cmyk.tif": cmyk_tiff,
        "ycbcr.tif": ycbcr_tiff,
        "lab.tif": lab_tiff,
        "a.png": apng,
        "broken-frame.png": apng_with_a_broken_frame,
    }


def _export_files(project: Project, tmp_path: Path, writers: dict[str, Callable[[Path], None]], **options: object):  # type: ignore[no-untyped-def]
    originals = tmp_path / "originals"
    formats = {".jpg": "JPEG", ".tif": "TIFF", ".png": "PNG"}
    specs = [
        ImageSpec(name, (W, H), fmt=formats[Path(name).suffix], tags=simple_tags("x"), referenced_at=originals)
        for name in writers
    ]
    add_images(project, specs)
    for name, write in writers.items():
        write(originals / name)  # replace the generated RGB file by the odd one
    service = ExportService(ConfigurationService(), project)
    target = tmp_path / "out"
    result = service.export(service.default_options(target, resolution=None, **options))
    return result, {p.stem: p for p in result.image_dir.iterdir() if p.suffix != ".txt"}


def test_high_bit_and_grey_modes_export_as_8_bit_with_their_tones(project: Project, tmp_path: Path) -> None:
    result, files = _export_files(project, tmp_path, _grey_writers())
    assert result.exported == 5 and not result.failures
    for stem, path in files.items():
        with Image.open(path) as im:
            assert im.mode == "RGB", stem  # what sd-scripts' convert("RGB") reads unchanged
            left, right = im.getpixel((0, H // 2)), im.getpixel((W - 1, H // 2))
        # the gradient survives: black on the left, white on the right (clipping made 16-bit scans white,
        # a float image black)
        assert max(left) <= 8 and min(right) >= 247, (stem, left, right)


def test_colour_modes_and_apng_first_frame(project: Project, tmp_path: Path) -> None:
    result, files = _export_files(project, tmp_path, _colour_writers())
    assert result.exported == 6 and not result.failures
    for stem, path in files.items():
        with Image.open(path) as im:
            assert im.mode == "RGB", stem
            r, g, _b = im.getpixel((0, H // 2))
        assert r < 40 and g > 215, (stem, r, g)  # the first frame's green left edge (the second is mirrored)


def test_one_bit_png_with_transparency_is_composited_on_the_background(project: Project, tmp_path: Path) -> None:
    def one_bit(path: Path) -> None:
        Image.fromarray(GRADIENT > 0.5).convert("1").save(path, "PNG", transparency=0)  # black = transparent

    result, files = _export_files(project, tmp_path, {"bits.png": one_bit}, background=(255, 0, 0))
    assert result.exported == 1 and not result.failures
    with Image.open(files["bits"]) as im:
        assert im.mode == "RGB"
        assert im.getpixel((0, 0)) == (255, 0, 0)  # transparent half: the background colour
        assert im.getpixel((W - 1, 0)) == (255, 255, 255)


def test_odd_modes_that_no_file_holds_convert(project: Project) -> None:
    base = Image.new("RGBA", (4, 4), (10, 200, 30, 128))
    made = {
        "HSV": base.convert("RGB").convert("HSV"),
        "PA": base.convert("RGB").convert("P").convert("PA"),
        "La": base.convert("LA").convert("La"),
        "RGBa": base.convert("RGBa"),
    }
    for mode, img in made.items():
        out = _to_rgb_or_rgba(img)
        assert out.mode in ("RGB", "RGBA"), mode
    assert _to_rgb_or_rgba(made["La"]).getpixel((0, 0))[3] == 128  # alpha kept, not dropped by a failed convert


def test_jpeg_the_trainers_size_reader_cannot_parse_is_re_encoded(project: Project, tmp_path: Path) -> None:
    def junk_jpeg(path: Path) -> None:
        buffer = io.BytesIO()
        _rgb().save(buffer, "JPEG", quality=95)
        data = buffer.getvalue()
        app0_end = 4 + int.from_bytes(data[4:6], "big")
        path.write_bytes(data[:app0_end] + b"\xff\x00\x12\x34" + data[app0_end:])  # Pillow skips it
        assert imagesize.get(str(path)) == (-1, -1)

    def clean_jpeg(path: Path) -> None:
        _rgb().save(path, "JPEG", quality=95)

    result, files = _export_files(project, tmp_path, {"junk.jpg": junk_jpeg, "clean.jpg": clean_jpeg})
    assert result.exported == 2
    assert imagesize.get(str(files["junk"])) == (W, H)  # sd-scripts can read its size now
    assert files["clean"].read_bytes() == (tmp_path / "originals" / "clean.jpg").read_bytes()  # still copied


def test_an_image_that_cannot_be_written_is_reported_and_the_export_goes_on(project: Project, tmp_path: Path) -> None:
    def truncated(path: Path) -> None:
        buffer = io.BytesIO()
        _rgb().save(buffer, "PNG")
        path.write_bytes(buffer.getvalue()[:200])

    def good(path: Path) -> None:
        _rgb().save(path, "PNG")

    result, files = _export_files(project, tmp_path, {"broken.png": truncated, "good.png": good})
    assert result.exported == 1 and set(files) == {"good"}
    (failure,) = result.failures
    assert failure.path.endswith("broken.png") and failure.reason


def test_stored_paths_that_are_not_utf8_are_read_back_as_imported(project: Project, tmp_path: Path) -> None:
    """An image stored under a name that is not UTF-8 (a Latin-1 ``caf\\xe9``, kept surrogate-escaped; the
    database holds an escaped form) is read from that very file and reported under its original path: the
    export reads its rows without the ORM, so it must undo the database form as the mapped column does."""
    import os

    from lorairo.database.schema import ImageRecord
    from lorairo.services.export.data import load_items

    (image_id,) = add_images(project, [ImageSpec("plain.png", (W, H), tags=simple_tags("cat"))])
    latin1 = os.fsdecode(b"caf\xe9.png")
    with project.db.session(write=True) as session:
        record = session.get(ImageRecord, image_id)
        assert record is not None
        stored = project.root / record.file_path
        renamed = stored.with_name(latin1)
        stored.rename(renamed)
        record.file_path = str(renamed.relative_to(project.root))
        record.original_path = f"/archive/{latin1}"
    with project.db.session() as session:
        (item,) = load_items(session, project.root, [image_id])
    assert item.source_path == renamed and item.original_path == f"/archive/{latin1}"
    assert item.has_alpha is False and all(t.rejected is False for t in item.tags)  # booleans, not 0 / 1
    service = ExportService(ConfigurationService(), project)
    result = service.export(service.default_options(tmp_path / "out", trigger_words=("sks",), format="kohya"))
    assert result.exported == 1 and not result.failures  # the renamed file itself was read
