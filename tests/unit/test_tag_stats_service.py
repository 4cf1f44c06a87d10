"""Project-wide tag counts (one aggregated query) against a plain Python count; project-wide rename, merge and
delete as one undoable edit."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from lorairo.database.schema import TagRecord
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.edit_service import EditCommand, EditError, EditService
from lorairo.services.image_query_service import ImageFilter
from lorairo.services.project_service import Project, ProjectService
from lorairo.services.tag_stats_service import TagStatsService

from .test_edit_service import add_image

VOCABULARY = ["cat", "dog", "long hair", "blurry", "smile", "1girl"]


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("stats")
    yield project
    project.close()


def _random_project(project: Project, seed: int, images: int = 40) -> dict[int, set[str]]:
    rng = random.Random(seed)
    truth: dict[int, set[str]] = {}
    for n in range(images):
        tags = set(rng.sample(VOCABULARY, rng.randint(0, 4)))
        image_id = add_image(project, f"img_{n}.png", tags=dict.fromkeys(tags, "general"))
        truth[image_id] = tags
    return truth


def test_counts_match_a_plain_count_for_the_project_and_for_filters(project: Project) -> None:
    truth = _random_project(project, seed=7)
    # A tag given twice to one image (by two sources) still counts that image once; a rejected row not at all.
    some = next(i for i, tags in truth.items() if "cat" in tags)
    with project.db.session(write=True) as s:
        s.add(TagRecord(image_id=some, tag="cat", source="manual"))
        other = next(i for i, tags in truth.items() if "dog" in tags)
        s.add(TagRecord(image_id=other, tag="ghost", source="model", is_rejected=True))
    stats = TagStatsService(project.db)

    def reference(ids: list[int]) -> dict[str, int]:
        return dict(Counter(tag for i in ids for tag in truth[i]))

    found = stats.project_tags()
    assert {t.tag: t.count for t in found} == reference(list(truth))
    assert [t.count for t in found] == sorted((t.count for t in found), reverse=True)
    rng = random.Random(3)
    for _ in range(12):
        wanted = tuple(rng.sample(VOCABULARY, rng.randint(1, 2)))
        banned = tuple(rng.sample([t for t in VOCABULARY if t not in wanted], rng.randint(0, 1)))
        image_filter = ImageFilter(tags_all=wanted, tags_none=banned)
        ids = [i for i, tags in truth.items() if set(wanted) <= tags and not set(banned) & tags]
        assert {t.tag: t.count for t in stats.project_tags(image_filter)} == reference(ids), image_filter


def test_search_is_substring_with_prefix_matches_first(project: Project) -> None:
    add_image(project, "a.png", tags={"long hair": "general", "hair ornament": "general"})
    add_image(project, "b.png", tags={"long hair": "general"})
    names = [t.tag for t in TagStatsService(project.db).search("hair")]
    assert names == ["hair ornament", "long hair"]  # prefix first, then by count
    assert [t.count for t in TagStatsService(project.db).search("ong_h")] == [2]


def test_rename_everywhere_merges_into_an_existing_tag_in_one_undo_step(project: Project) -> None:
    a = add_image(project, "a.png", tags={"kitty": "general"})
    b = add_image(project, "b.png", tags={"kitty": "general", "cat": "general"})
    c = add_image(project, "c.png", tags={"dog": "general"})
    service = EditService(project)
    stats = TagStatsService(project.db)
    assert service.images_with_tag("Kitty") == [a, b]
    result = service.rename_everywhere("kitty", "cat")
    assert set(result.changed_ids) == {a, b}
    assert {t.tag: t.count for t in stats.project_tags()} == {"cat": 2, "dog": 1}
    command = EditCommand(result)
    command.undo(service)
    assert {t.tag: t.count for t in stats.project_tags()} == {"kitty": 2, "cat": 1, "dog": 1}
    command.redo(service)
    deleted = service.delete_everywhere("cat")
    assert "2 images" in deleted.description and set(deleted.changed_ids) == {a, b}
    assert {t.tag for t in stats.project_tags()} == {"dog"}
    EditCommand(deleted).undo(service)
    assert {t.tag: t.count for t in stats.project_tags()} == {"cat": 2, "dog": 1}
    assert c not in service.images_with_tag("cat")
    with pytest.raises(EditError, match="no image has the tag 'nothing'"):
        service.delete_everywhere("nothing")


def test_bad_tag_text_is_refused_naming_the_problem(project: Project) -> None:
    image = add_image(project, "a.png")
    service = EditService(project)
    with pytest.raises(EditError, match=r"\|\|\|"):
        service.add_tags([image], ["cat ||| dog"])
    with pytest.raises(EditError, match="300 characters"):
        service.add_tags([image], ["x" * 300])
    with pytest.raises(EditError, match="comma"):
        service.rename_tag([image], "a", "b, c")
    five_thousand = [f"tag {n}" for n in range(5000)]
    assert service.add_tags([image], five_thousand).changed_ids == (image,)
    assert TagStatsService(project.db).project_tags()[0].count == 1
    assert len(TagStatsService(project.db).project_tags()) == 5000
    with project.db.session() as s:
        assert len(list(s.scalars(select(TagRecord.id).where(TagRecord.image_id == image)))) == 5000


def test_tag_order_is_used_by_export_and_undone_in_one_step(project: Project) -> None:
    from lorairo.services.caption_preview import caption_preview
    from lorairo.services.export_service import ExportService

    image = add_image(
        project, "a.png", tags={"cat": "general", "dog": "general", "sky": "general", "miku": "character"}
    )
    service = EditService(project)
    options = ExportService(ConfigurationService(), project).default_options(trigger_words=("ohwx",))

    def line() -> str:
        return caption_preview(project, options, image).lines[0]

    assert line() == "ohwx, miku, cat, dog, sky"  # character first (export's category order), then as added
    result = service.set_tag_order(image, ["sky", "cat"])  # the user's order, within the category order
    assert line() == "ohwx, miku, sky, cat, dog"
    no_categories = options.with_changes(order_by_category=False)
    assert caption_preview(project, no_categories, image).lines[0] == "ohwx, sky, cat, dog, miku"
    EditCommand(result).undo(service)
    assert line() == "ohwx, miku, cat, dog, sky"
    # Deleting and undoing keeps a tag's place.
    service.set_tag_order(image, ["dog"])
    removed = service.remove_tags([image], ["dog"])
    EditCommand(removed).undo(service)
    assert line() == "ohwx, miku, dog, cat, sky"


def test_dataset_statistics_for_the_project_and_a_filter(project: Project) -> None:
    from lorairo.database.schema import QualityScoreRecord, RatingRecord
    from lorairo.services.statistics_service import HISTOGRAM_BINS, dataset_statistics

    a = add_image(project, "a.png", tags={"cat": "general"})
    b = add_image(project, "b.png", tags={"cat": "general", "dog": "general"})
    c = add_image(project, "c.png", tags={"dog": "general"})
    with project.db.session(write=True) as s:
        s.add(QualityScoreRecord(image_id=a, score_name="aesthetic", value=0.02, scale_min=0.0, scale_max=1.0))
        s.add(QualityScoreRecord(image_id=b, score_name="aesthetic", value=1.0, scale_min=0.0, scale_max=1.0))
        s.add(QualityScoreRecord(image_id=c, score_name="manual", value=5.5, scale_min=1.0, scale_max=10.0))
        s.add(RatingRecord(image_id=a, label="general"))
        s.add(RatingRecord(image_id=b, label="general"))
    EditService(project).set_rating([b], "sensitive")
    stats = dataset_statistics(project.db)
    assert stats.image_count == 3
    assert [(t.tag, t.count) for t in stats.tags] == [("cat", 2), ("dog", 2)]
    assert stats.score_bins["aesthetic"][0] == 1 and stats.score_bins["aesthetic"][HISTOGRAM_BINS - 1] == 1
    assert stats.score_bins["manual"][10] == 1  # 5.5 on 1..10 is half way
    assert stats.ratings == {"general": 1, "sensitive": 1, "none": 1}  # the manual rating wins
    assert sorted(zip(stats.widths, stats.heights, strict=True)) == [(64, 48)] * 3
    only_dogs = dataset_statistics(project.db, ImageFilter(tags_all=("dog",)))
    assert only_dogs.image_count == 2 and only_dogs.ratings == {"sensitive": 1, "none": 1}
    assert set(only_dogs.score_bins) == {"aesthetic", "manual"} and sum(only_dogs.score_bins["aesthetic"]) == 1
    assert stats.score_ranges == {"aesthetic": (0.0, 1.0), "manual": (1.0, 10.0)}  # each plotted on its own scale


def test_bucket_distribution_counts_each_image_in_the_bucket_export_would_use(project: Project) -> None:
    from lorairo.database.schema import ImageRecord, ImageRegionRecord
    from lorairo.services.export.bucketing import BucketSettings, select_bucket
    from lorairo.services.statistics_service import bucket_distribution

    rng = random.Random(7)
    sizes = [
        (rng.choice([512, 640, 768, 1024, 1536, 3000]), rng.choice([512, 683, 768, 1024, 2000])) for _ in range(40)
    ]
    ids = [add_image(project, f"i{n}.png") for n in range(len(sizes))]
    with project.db.session(write=True) as s:
        for image_id, (w, h) in zip(ids, sizes, strict=True):
            record = s.get(ImageRecord, image_id)
            record.width, record.height = w, h
        s.get(ImageRecord, ids[0]).excluded = True  # not exported: not trained
        s.add(ImageRegionRecord(image_id=ids[1], crop_left=0, crop_top=0, crop_width=300, crop_height=900))
    settings = BucketSettings(resolution=(768, 768), min_bucket_reso=256, max_bucket_reso=768, bucket_reso_steps=64)
    got = bucket_distribution(project.db, settings)
    # Plain reference: every exported image's (cropped) size through export's own bucket choice.
    shown = {ids[1]: (300, 900)}
    reference = Counter(
        select_bucket(*shown.get(i, size), settings).bucket for i, size in zip(ids, sizes, strict=True) if i != ids[0]
    )
    assert dict(got.counts) == dict(reference)
    assert got.images == len(ids) - 1 and got.unbucketable == 0
    aspects = [w / h for (w, h), _n in got.counts]
    assert aspects == sorted(aspects, reverse=True)  # widest first, as the chart lists them
    with pytest.raises(ValueError, match="bucket_reso_steps"):
        bucket_distribution(project.db, BucketSettings(bucket_reso_steps=0))


def test_grid_orders(project: Project) -> None:
    from lorairo.database.schema import ImageRecord, QualityScoreRecord
    from lorairo.services.tag_stats_service import SORTS, sorted_ids

    a = add_image(project, "b.png", tags={"x": "general"})
    b = add_image(project, "a.png", tags={"x": "general", "y": "general", "z": "general"})
    c = add_image(project, "c.png")
    with project.db.session(write=True) as s:
        s.add(QualityScoreRecord(image_id=a, score_name="aesthetic", value=8.0, scale_min=0.0, scale_max=10.0))
        s.add(QualityScoreRecord(image_id=b, score_name="aesthetic", value=0.3, scale_min=0.0, scale_max=1.0))
        s.add(QualityScoreRecord(image_id=c, score_name="nsfw", value=0.99, scale_min=0.0, scale_max=1.0))
        s.get(ImageRecord, c).width = 4000
    orders = {key: sorted_ids(project.db, None, key) for key in SORTS}
    assert orders["import"] == [a, b, c]
    assert orders["name"] == [b, a, c]
    assert orders["tags"] == [b, a, c]
    assert orders["resolution"][0] == c
    assert orders["score"] == [a, b, c]  # an nsfw score is not a quality score: c has none
    assert sorted_ids(project.db, ImageFilter(tags_all=("x",)), "tags") == [b, a]
    with pytest.raises(ValueError, match="unknown sort"):
        sorted_ids(project.db, None, "colour")


def test_a_project_wide_rename_to_feline_is_found_by_the_filter_under_its_new_name(project: Project) -> None:
    """Filters match `tags.tag_key`: a rename must give the new rows the new key (a rename that updated `tag`
    in place would leave `cat`'s key behind and `feline` would find nothing)."""
    from lorairo.services.filter_language import parse_filter
    from lorairo.services.image_query_service import ImageQueryService

    a = add_image(project, "a.png", tags={"cat": "general"})
    b = add_image(project, "b.png", tags={"Cat": "general", "dog": "general"})
    add_image(project, "c.png", tags={"dog": "general"})
    service = EditService(project)
    query = ImageQueryService(project.db)

    def found(text: str) -> list[int]:
        return query.query_ids(parse_filter(text))

    assert found("cat") == [a, b]
    result = service.rename_everywhere("cat", "Feline")
    assert found("feline") == found("Feline") == found("tag:FELINE") == [a, b]
    assert found("cat") == [] and found("-feline") == [b + 1]
    with project.db.session() as s:
        assert set(s.scalars(select(TagRecord.tag_key).where(TagRecord.is_rejected.is_(False)))) == {"feline", "dog"}
    EditCommand(result).undo(service)
    assert found("cat") == [a, b] and found("feline") == []


def test_statistics_and_sorts_use_the_configured_quality_thresholds(project: Project) -> None:
    """`quality:` terms in the statistics view, the tags panel and the grid's sorts select with the user's
    thresholds, as the grid's own query does (they used the shipped defaults, so the counts disagreed)."""
    from lorairo.services.export.bucketing import BucketSettings
    from lorairo.services.image_query_service import ImageQueryService
    from lorairo.services.quality_rules import QualityThresholds
    from lorairo.services.statistics_service import bucket_distribution, dataset_statistics
    from lorairo.services.tag_stats_service import sorted_ids

    for n in range(3):
        add_image(project, f"small_{n}.png", tags={"cat": "general"})  # 64 x 48 px
    config = ConfigurationService()
    config.update_setting("export", "resolution", 32)  # training at 32 px: nothing here needs upscaling
    query = ImageQueryService(project.db, QualityThresholds.from_config(config.get))
    needs_upscale = ImageFilter(quality=(("needs-upscale", True),))
    assert query.query_ids(needs_upscale) == []  # the grid
    assert dataset_statistics(project.db, needs_upscale, query=query).image_count == 0
    assert TagStatsService(project.db, query).project_tags(needs_upscale) == []
    assert sorted_ids(project.db, needs_upscale, "name", query) == []
    assert bucket_distribution(project.db, BucketSettings(), needs_upscale, query).images == 0
    # Without the user's thresholds (the shipped 1024 px) every image would be counted.
    assert dataset_statistics(project.db, needs_upscale).image_count == 3


def test_project_statistics_from_the_counters_equal_the_plain_queries(project: Project) -> None:
    """The whole project's histogram and ratings come from the 0015 counters; over a filter that selects every
    image they come from plain aggregates over the rows. Written partly by a second connection (another
    process), including an image deleted with its scores and ratings (cascade): both must agree."""
    import sqlite3

    from lorairo.services.statistics_service import dataset_statistics

    rng = random.Random(3)
    ids = [add_image(project, f"s{n}.png", tags={"cat": "general"}) for n in range(30)]
    conn = sqlite3.connect(project.db_path)
    conn.execute("PRAGMA foreign_keys = ON")
    for image_id in ids:
        for name, low, high in (("aesthetic", 0.0, 10.0), ("nsfw", 0.0, 1.0), ("manual", 1.0, 10.0)):
            if rng.random() < 0.7:
                conn.execute(
                    "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, "
                    "created_at) VALUES (?, ?, ?, ?, ?, 'model', '2026-01-01')",
                    (image_id, name, rng.uniform(low, high), low, high),
                )
        for _ in range(rng.randint(0, 2)):
            conn.execute(
                "INSERT INTO ratings (image_id, label, source, created_at) VALUES (?, ?, 'model', '2026-01-01')",
                (image_id, rng.choice(("general", "sensitive", "explicit"))),
            )
    conn.execute("UPDATE images SET manual_rating = 'questionable' WHERE id IN (?, ?)", (ids[0], ids[1]))
    conn.execute("DELETE FROM images WHERE id = ?", (ids[2],))
    conn.execute("UPDATE quality_scores SET value = 9.9 WHERE id = (SELECT min(id) FROM quality_scores)")
    conn.commit()
    conn.close()
    EditService(project).set_rating([ids[3]], "explicit")

    whole = dataset_statistics(project.db)
    every = dataset_statistics(project.db, ImageFilter(min_width=1))  # every image, through the plain queries
    assert whole.image_count == every.image_count == 29
    assert whole.ratings == every.ratings and sum(whole.ratings.values()) == 29
    assert whole.ratings["questionable"] == 2
    assert whole.score_bins == every.score_bins and whole.score_ranges == every.score_ranges
    assert set(whole.score_bins) == {"aesthetic", "nsfw", "manual"}


def test_filters_on_most_of_the_project_count_the_other_images_and_subtract_exactly(project: Project) -> None:
    """A filter holding more than half of the project is counted as the project's counters minus the other
    images (filter_scope); a smaller one directly. Both equal plain aggregates over the filter's own ids."""
    import sqlite3

    from lorairo.services.image_query_service import ImageQueryService
    from lorairo.services.statistics_service import dataset_statistics

    truth = _random_project(project, seed=11, images=60)
    rng = random.Random(5)
    conn = sqlite3.connect(project.db_path)
    for image_id in truth:
        if rng.random() < 0.8:
            conn.execute(
                "INSERT INTO quality_scores (image_id, score_name, value, scale_min, scale_max, source, created_at) "
                "VALUES (?, 'aesthetic', ?, 0, 10, 'model', '2026-01-01')",
                (image_id, rng.uniform(0, 10)),
            )
        if rng.random() < 0.7:
            conn.execute(
                "INSERT INTO ratings (image_id, label, source, created_at) VALUES (?, ?, 'model', '2026-01-01')",
                (image_id, rng.choice(("general", "explicit"))),
            )
    conn.execute("UPDATE images SET manual_rating = 'sensitive' WHERE id % 7 = 0")
    conn.commit()
    query = ImageQueryService(project.db)
    sides = set()
    for tag in VOCABULARY[:6]:
        for image_filter in (ImageFilter(tags_none=(tag,)), ImageFilter(tags_all=(tag,))):
            ids = [i for i, tags in truth.items() if (tag in tags) == bool(image_filter.tags_all)]
            sides.add(len(ids) * 2 > len(truth))
            expected_tags = dict(Counter(t for i in ids for t in truth[i]))
            assert {t.tag: t.count for t in TagStatsService(project.db).project_tags(image_filter)} == expected_tags
            stats = dataset_statistics(project.db, image_filter, top_n=100, query=query)
            assert stats.image_count == len(ids)
            assert {t.tag: t.count for t in stats.tags} == expected_tags
            marks = ",".join(map(str, ids)) or "0"
            ratings = dict(
                conn.execute(
                    "SELECT coalesce(i.manual_rating, (SELECT r.label FROM ratings r WHERE r.image_id = i.id "
                    f"ORDER BY r.id DESC LIMIT 1), 'none'), count(*) FROM images i WHERE i.id IN ({marks}) GROUP BY 1"
                )
            )
            assert stats.ratings == ratings, image_filter
            bins = [0] * 20
            for (value,) in conn.execute(f"SELECT value FROM quality_scores WHERE image_id IN ({marks})"):
                bins[min(19, max(0, int(value * 20 / 10)))] += 1
            assert stats.score_bins == ({"aesthetic": tuple(bins)} if sum(bins) else {}), image_filter
            assert len(stats.widths) == len(ids)
    conn.close()
    assert sides == {True, False}  # both ways were taken
