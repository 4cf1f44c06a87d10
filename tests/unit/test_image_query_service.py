"""ImageQueryService: the filter syntax and the SQL behind the filter bar, the CLI and exports."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from lorairo.database.schema import (
    AnnotationFailure,
    CaptionRecord,
    ImageRecord,
    ImageSourceRecord,
    NearDuplicateRecord,
    QualityScoreRecord,
    RatingRecord,
    TagRecord,
)
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.image_query_service import (
    FilterSyntaxError,
    ImageFilter,
    ImageQueryService,
    format_filter,
    parse_filter,
)
from lorairo.services.project_service import Project, ProjectService


def _image(n: int, width: int = 512, height: int = 512, **kw: object) -> ImageRecord:
    return ImageRecord(
        file_path=f"images/{n:02d}/{n}.png",
        file_name=f"img_{n}.png",
        original_path=f"/src/img_{n}.png",
        file_size=1000 + n,
        width=width,
        height=height,
        format="PNG",
        mode="RGB",
        hash_value=f"{n:064x}",
        phash=f"{n:016x}",
        phash_int=n,
        **kw,
    )


@pytest.fixture
def project() -> Project:
    proj = ProjectService(ConfigurationService()).create("query")
    with proj.db.session(write=True) as s:
        images = [
            _image(1, created_at=datetime(2024, 1, 10)),  # cat, long hair
            _image(2, 1024, 512, created_at=datetime(2024, 2, 1)),  # dog, long hair, blurry
            _image(3, 300, 900, manual_rating="explicit", created_at=datetime(2024, 3, 1)),  # no tags
            _image(4, 2048, 2048, excluded=True, created_at=datetime(2024, 3, 5)),  # cat (rejected), caption
        ]
        s.add_all(images)
        s.flush()
        a, b, c, d = (img.id for img in images)
        for image_id, tag in ((a, "cat"), (a, "long hair"), (b, "dog"), (b, "long hair"), (b, "blurry")):
            s.add(TagRecord(image_id=image_id, tag=tag, source="model"))
        s.add(TagRecord(image_id=d, tag="cat", source="model", is_rejected=True))
        s.add(CaptionRecord(image_id=d, text="A Red Dress on a chair", source="manual"))
        s.add(QualityScoreRecord(image_id=a, score_name="aesthetic", value=7.5, scale_max=10))
        s.add(QualityScoreRecord(image_id=b, score_name="aesthetic", value=4.0, scale_max=10))
        s.add(RatingRecord(image_id=a, label="general"))
        s.add(RatingRecord(image_id=c, label="general"))  # overridden by the manual rating
        s.add(AnnotationFailure(image_id=b, model_name="wd", provider="local", failure_reason="DECODE"))
        s.add_all([ImageSourceRecord(image_id=c, source_path=p) for p in ("/x/a.png", "/y/a.png")])
        s.add(NearDuplicateRecord(image_id=a, match_image_id=d, distance=3))
    yield proj
    proj.close()


def _names(service: ImageQueryService, text: str) -> list[str]:
    return [row.file_name for row in service.fetch_rows(service.query_ids(parse_filter(text)))]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["img_1.png", "img_2.png", "img_3.png", "img_4.png"]),
        ("long_hair", ["img_1.png", "img_2.png"]),  # underscores match the stored display form
        ('tag:"long hair" cat', ["img_1.png"]),  # AND
        ("cat|dog", ["img_1.png", "img_2.png"]),  # OR (the rejected cat on img_4 does not count)
        ('"long hair" -blurry', ["img_1.png"]),  # NOT
        ("-tag:cat", ["img_2.png", "img_3.png", "img_4.png"]),
        ("long*", ["img_1.png", "img_2.png"]),
        ("untagged", ["img_3.png", "img_4.png"]),
        ("uncaptioned -excluded", ["img_1.png", "img_2.png", "img_3.png"]),
        ("caption:'red dress'", ["img_4.png"]),
        ("score>=6", ["img_1.png"]),
        ("score:3-5", ["img_2.png"]),
        ("rating:general", ["img_1.png"]),  # img_3's manual rating wins over the model's
        ("rating:explicit,sensitive", ["img_3.png"]),
        ("res>=512 aspect:square", ["img_1.png", "img_4.png"]),
        ("aspect<0.5", ["img_3.png"]),
        ("width>=1024 height<=600", ["img_2.png"]),
        ("imported>=2024-02-01 imported<=2024-03-01", ["img_2.png", "img_3.png"]),
        ("duplicates", ["img_3.png"]),
        ("near-duplicates", ["img_1.png", "img_4.png"]),
        ("failed", ["img_2.png"]),
        ("excluded", ["img_4.png"]),
        ("name:IMG_2", ["img_2.png"]),
        # comma = AND, and bare words side by side are one tag (the README example returned nothing before)
        ("long hair, cat|dog, -blurry", ["img_1.png"]),
        ('tag:"long hair" -blurry score>=6 rating:general', ["img_1.png"]),
        ("LONG_Hair, Cat", ["img_1.png"]),
        # every flag negates
        ("-untagged", ["img_1.png", "img_2.png"]),
        ("-uncaptioned", ["img_4.png"]),
        ("-duplicates", ["img_1.png", "img_2.png", "img_4.png"]),
        ("-near-duplicates", ["img_2.png", "img_3.png"]),
        ("-failed", ["img_1.png", "img_3.png", "img_4.png"]),
        ("-excluded", ["img_1.png", "img_2.png", "img_3.png"]),
        ("-rating:explicit", ["img_1.png", "img_2.png", "img_4.png"]),
        ("score>4", ["img_1.png"]),  # strict: the 4.0 of img_2 is not > 4
        ("score>=4", ["img_1.png", "img_2.png"]),
        ("caption:100%", []),  # % is literal, not a LIKE wildcard
    ],
)
def test_filters_select_the_images_a_user_expects(project: Project, text: str, expected: list[str]) -> None:
    assert _names(ImageQueryService(project.db), text) == expected


def test_rows_carry_tags_caption_scores_and_effective_rating(project: Project) -> None:
    service = ImageQueryService(project.db)
    ids = service.query_ids()
    rows = service.fetch_rows([ids[3], ids[0], 999_999])  # order kept, unknown ids dropped
    assert [r.file_name for r in rows] == ["img_4.png", "img_1.png"]
    assert rows[0].caption == "A Red Dress on a chair" and rows[0].tags == () and rows[0].excluded
    assert rows[1].tags == ("cat", "long hair") and rows[1].scores == {"aesthetic": 7.5}
    assert rows[1].rating == "general"
    assert service.count(parse_filter("long_hair")) == 2


def test_autocomplete_counts_project_tags(project: Project) -> None:
    service = ImageQueryService(project.db)
    assert service.tag_counts("lon") == [("long hair", 2)]
    assert service.tag_counts("")[0] == ("long hair", 2)


def test_format_round_trips() -> None:
    f = ImageFilter(
        tags_all=("long hair",),
        tags_any=(("cat", "dog"),),
        tags_none=("blurry",),
        caption_text="red dress",
        score_min=6.0,
        ratings=("general",),
        min_side=512,
        imported_from=date(2024, 1, 1),
        untagged=True,
        near_duplicates=True,
        excluded=False,
    )
    assert parse_filter(format_filter(f)) == f
    assert format_filter(f) == (
        "long hair, cat|dog, -blurry, caption:red dress, score>=6, imported>=2024-01-01, res>=512, "
        "rating:general, untagged, near-duplicates, -excluded"
    )
    assert format_filter(ImageFilter()) == ""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("score>=high", "'high' is not a number"),
        ("rating:nice", "unknown rating 'nice'; WD taggers give general"),
        ("imported>=yesterday", "is not a date"),
        ('tag:"long hair', "column 5 .*never closed"),
    ],
)
def test_bad_filters_name_the_term(text: str, message: str) -> None:
    with pytest.raises(FilterSyntaxError, match=message):
        parse_filter(text)


def test_cli_query_prints_matching_images_as_json(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from lorairo.main import main

    assert main(["query", "--project", "query", "--filter", "long_hair -blurry", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["count"] == 1
    assert out["images"][0]["file_name"] == "img_1.png"
    assert out["images"][0]["tags"] == ["cat", "long hair"]
    assert out["images"][0]["scores"] == {"aesthetic": 7.5}
    assert main(["query", "--project", "query", "--filter", "score>=x"]) == 1
    assert "'x' is not a number" in capsys.readouterr().err
