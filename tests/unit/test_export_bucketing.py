"""Bucket sizes equal to sd-scripts' (make_bucket_resolutions + BucketManager.select_bucket).

Expected values were worked out by hand from sd-scripts' documented algorithm (see the module docstring of
lorairo.services.export.bucketing), e.g. at 1024 with max_bucket_reso 2048 width 832 gives
floor(1048576 / 832 / 64) * 64 = 1216, the "832x1216 family" SDXL users know.
"""

from __future__ import annotations

import pytest

from lorairo.services.export.bucketing import (
    BucketPlan,
    BucketSettings,
    bucket_resolutions,
    make_bucket_resolutions,
    select_bucket,
)

SD = BucketSettings(resolution=(1024, 1024), min_bucket_reso=256, max_bucket_reso=1024)
SDXL = BucketSettings(resolution=(1024, 1024), min_bucket_reso=256, max_bucket_reso=2048)
NO_UP = BucketSettings(resolution=(1024, 1024), bucket_no_upscale=True)


def test_bucket_list_at_1024_with_max_2048_matches_the_sdxl_family() -> None:
    resos = set(make_bucket_resolutions((1024, 1024), 256, 2048, 64))
    for pair in [(1024, 1024), (832, 1216), (896, 1152), (960, 1088), (768, 1344), (704, 1472), (640, 1600)]:
        assert pair in resos and pair[::-1] in resos
    assert (576, 1792) in resos and (512, 2048) in resos and (256, 2048) in resos
    assert all(w % 64 == 0 and h % 64 == 0 for w, h in resos)
    assert all(w * h <= 1024 * 1024 for w, h in resos)
    assert (704, 1024) not in resos  # the max-1024 list has it; this one takes 704 x 1472 instead


def test_bucket_list_with_max_1024_caps_the_long_side() -> None:
    resos = make_bucket_resolutions((1024, 1024), 256, 1024, 64)
    assert resos == sorted({(w, 1024) for w in range(256, 1025, 64)} | {(1024, w) for w in range(256, 1025, 64)})
    assert bucket_resolutions(NO_UP) == []


@pytest.mark.parametrize(
    ("size", "settings", "bucket", "resized", "crop"),
    [
        # square -> the square bucket, scaled up to cover it
        ((1000, 1000), SD, (1024, 1024), (1024, 1024), (0, 0)),
        ((100, 100), SD, (1024, 1024), (1024, 1024), (0, 0)),
        # 2:3 portrait: 704x1024 (ratio .6875) beats 640x1024 (.625) when max_bucket_reso is 1024
        ((1000, 1500), SD, (704, 1024), (704, 1056), (0, 16)),
        ((1500, 1000), SD, (1024, 704), (1056, 704), (16, 0)),
        # 2:3 with max 2048: the 832x1216 family, scaled by width, cropped top and bottom
        ((1000, 1500), SDXL, (832, 1216), (832, 1248), (0, 16)),
        ((1500, 1000), SDXL, (1216, 832), (1248, 832), (16, 0)),
        ((2000, 3000), SDXL, (832, 1216), (832, 1248), (0, 16)),
        # 16:9 has an exact bucket
        ((1920, 1080), SD, (1024, 576), (1024, 576), (0, 0)),
        # 4:3 -> 1024x768 exactly (1.3333)
        ((1600, 1200), SD, (1024, 768), (1024, 768), (0, 0)),
        # an image already on a bucket stays as it is
        ((832, 1216), SDXL, (832, 1216), (832, 1216), (0, 0)),
        # 8:1 panorama: the widest bucket (4:1), matched by height and centre-cropped
        ((4000, 500), SD, (1024, 256), (2048, 256), (512, 0)),
        # bucket_no_upscale: small images keep their size, cropped down to multiples of 64
        ((500, 300), NO_UP, (448, 256), (500, 300), (26, 22)),
        ((1024, 1024), NO_UP, (1024, 1024), (1024, 1024), (0, 0)),
        # ... large ones shrink to the max area keeping the aspect ratio
        ((2000, 1000), NO_UP, (1408, 704), (1408, 704), (0, 0)),
    ],
)
def test_select_bucket_matches_sd_scripts(
    size: tuple[int, int],
    settings: BucketSettings,
    bucket: tuple[int, int],
    resized: tuple[int, int],
    crop: tuple[int, int],
) -> None:
    plan = select_bucket(*size, settings)
    assert plan == BucketPlan(bucket=bucket, resized=resized, crop_left=crop[0], crop_top=crop[1])


def test_no_upscale_refuses_images_smaller_than_one_step() -> None:
    with pytest.raises(ValueError, match="smaller than bucket_reso_steps"):
        select_bucket(100, 40, NO_UP)


def test_settings_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match="multiples of bucket_reso_steps"):
        BucketSettings(min_bucket_reso=250).validate()
    with pytest.raises(ValueError, match="max_bucket_reso"):
        BucketSettings(resolution=(1024, 1024), max_bucket_reso=768).validate()
