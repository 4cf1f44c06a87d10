"""EditService: manual tag / caption / rating / score edits, undo and redo, batch edits, near-duplicate review."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from lorairo.database.schema import (
    CaptionRecord,
    ImageRecord,
    ModelRecord,
    NearDuplicateRecord,
    QualityScoreRecord,
    TagRecord,
)
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.edit_service import EditCommand, EditError, EditService
from lorairo.services.project_service import Project, ProjectService


@pytest.fixture
def project() -> Iterator[Project]:
    project = ProjectService(ConfigurationService()).create("edits")
    yield project
    project.close()


def add_image(project: Project, name: str, *, tags: dict[str, str] | None = None, model: str = "wd-test") -> int:
    """Register an image row with model tags {tag: category} (no file needed for edits)."""
    digest = hashlib.sha256(name.encode()).hexdigest()
    with project.db.session(write=True) as s:
        model_row = s.scalar(select(ModelRecord).where(ModelRecord.name == model))
        if model_row is None:
            model_row = ModelRecord(name=model, provider="local", kind="tagger")
            s.add(model_row)
            s.flush()
        image = ImageRecord(
            file_path=f"images/{digest[:2]}/{name}",
            file_name=name,
            original_path=f"/src/{name}",
            file_size=1234,
            width=64,
            height=48,
            format="PNG",
            mode="RGB",
            hash_value=digest,
            phash="0" * 16,
            phash_int=0,
        )
        s.add(image)
        s.flush()
        for tag, category in (tags or {}).items():
            s.add(
                TagRecord(
                    image_id=image.id, tag=tag, category=category, source="model", model_id=model_row.id, confidence=0.9
                )
            )
        return image.id


def active_tags(project: Project, image_id: int) -> dict[str, str]:
    """tag -> source of the image's active (not rejected) tags."""
    with project.db.session() as s:
        rows = s.scalars(select(TagRecord).where(TagRecord.image_id == image_id, TagRecord.is_rejected.is_(False)))
        return {r.tag: r.source for r in rows}


def test_add_tag_is_saved_and_undo_redo_restore_it(project: Project) -> None:
    image = add_image(project, "a.png", tags={"1girl": "general"})
    service = EditService(project)

    result = service.add_tags([image], ["long_hair"])

    assert result.changed_ids == (image,)
    assert active_tags(project, image) == {"1girl": "model", "long hair": "manual"}
    command = EditCommand(result)
    assert command.undo(service).changed_ids == (image,)
    assert active_tags(project, image) == {"1girl": "model"}
    command.redo(service)
    assert active_tags(project, image) == {"1girl": "model", "long hair": "manual"}
    command.undo(service)
    assert active_tags(project, image) == {"1girl": "model"}


def test_adding_a_tag_the_image_has_changes_nothing(project: Project) -> None:
    image = add_image(project, "a.png", tags={"smile": "general"})
    result = EditService(project).add_tags([image], ["Smile"])
    assert not result.changed
    assert active_tags(project, image) == {"smile": "model"}


def test_removed_model_tag_is_rejected_not_deleted_and_stays_gone(project: Project) -> None:
    image = add_image(project, "a.png", tags={"smile": "general", "cat": "general"})
    service = EditService(project)

    result = service.remove_tags([image], ["smile"])

    assert active_tags(project, image) == {"cat": "model"}
    with project.db.session() as s:
        row = s.scalar(select(TagRecord).where(TagRecord.tag == "smile"))
        assert row is not None and row.is_rejected and row.source == "model"
    details = service.get_image_details(image)
    assert [t.tag for t in details.rejected_tags] == ["smile"]
    # Adding other tags, or a caption, never brings the rejected tag back.
    service.add_tags([image], ["dog"])
    service.set_caption(image, "a cat")
    assert "smile" not in active_tags(project, image)
    EditCommand(result).undo(service)
    assert active_tags(project, image)["smile"] == "model"


def test_removed_manual_tag_is_deleted_and_undo_recreates_it(project: Project) -> None:
    image = add_image(project, "a.png")
    service = EditService(project)
    service.add_tags([image], ["blue sky"])
    result = service.remove_tags([image], ["blue sky"])
    with project.db.session() as s:
        assert s.scalar(select(TagRecord).where(TagRecord.tag == "blue sky")) is None
    EditCommand(result).undo(service)
    assert active_tags(project, image) == {"blue sky": "manual"}


def test_rename_keeps_category_and_is_undoable(project: Project) -> None:
    image = add_image(project, "a.png", tags={"hatsune miku": "character"})
    service = EditService(project)
    result = service.rename_tag([image], "hatsune miku", "hatsune_miku_(append)")
    details = service.get_image_details(image)
    assert [(t.tag, t.category, t.source) for t in details.tags] == [("hatsune miku (append)", "character", "manual")]
    EditCommand(result).undo(service)
    assert active_tags(project, image) == {"hatsune miku": "model"}


def test_batch_add_remove_replace_and_rating_over_a_selection(project: Project) -> None:
    ids = [add_image(project, f"{i}.png", tags={"cat": "general"}) for i in range(4)]
    service = EditService(project)

    added = service.add_tags(ids[:3], ["outdoors"])
    replaced = service.rename_tag(ids, "cat", "kitten")
    rated = service.set_rating(ids[1:], "sensitive")

    assert added.changed_ids == tuple(ids[:3])
    assert set(replaced.changed_ids) == set(ids)
    assert [t.tag for t in service.tag_counts(ids)] == ["kitten", "outdoors"]
    assert [t.count for t in service.tag_counts(ids)] == [4, 3]
    assert service.get_image_details(ids[0]).manual_rating is None
    assert all(service.get_image_details(i).manual_rating == "sensitive" for i in ids[1:])
    removed = service.remove_tags(ids, ["outdoors"])
    assert set(removed.changed_ids) == set(ids[:3])
    assert all(active_tags(project, i) == {"kitten": "manual"} for i in ids)
    for result in (removed, rated, replaced):
        EditCommand(result).undo(service)
    assert all(active_tags(project, i) == {"cat": "model", "outdoors": "manual"} for i in ids[:3])
    assert all(service.get_image_details(i).manual_rating is None for i in ids)


def test_caption_is_saved_once_and_model_caption_kept(project: Project) -> None:
    image = add_image(project, "a.png")
    with project.db.session(write=True) as s:
        s.add(CaptionRecord(image_id=image, text="a model caption", source="model"))
    service = EditService(project)

    first = service.set_caption(image, "  my caption ")
    second = service.set_caption(image, "my caption")
    edited = service.set_caption(image, "better caption")

    assert first.changed and not second.changed
    details = service.get_image_details(image)
    assert details.manual_caption == "better caption"
    assert [c.source for c in details.captions] == ["manual", "model"]
    EditCommand(edited).undo(service)
    assert service.get_image_details(image).manual_caption == "my caption"
    EditCommand(first).undo(service)
    assert service.get_image_details(image).manual_caption is None


def test_rating_and_score_saved_validated_and_undoable(project: Project) -> None:
    image = add_image(project, "a.png")
    service = EditService(project)
    with pytest.raises(EditError, match="rating 'nsfw'"):
        service.set_rating([image], "nsfw")
    with pytest.raises(EditError, match="outside 1-10"):
        service.set_score([image], 11)

    service.set_rating([image], "explicit")
    first = service.set_score([image], 7)
    second = service.set_score([image], 9.5)

    details = service.get_image_details(image)
    assert details.manual_rating == "explicit"
    assert details.manual_score == 9.5
    with project.db.session() as s:
        rows = list(s.scalars(select(QualityScoreRecord)))
        assert [(r.score_name, r.source, r.scale_min, r.scale_max) for r in rows] == [("manual", "manual", 1.0, 10.0)]
    EditCommand(second).undo(service)
    assert service.get_image_details(image).manual_score == 7
    EditCommand(first).undo(service)
    assert service.get_image_details(image).manual_score is None


def test_edit_of_unknown_image_or_empty_tag_writes_nothing(project: Project) -> None:
    image = add_image(project, "a.png")
    service = EditService(project)
    with pytest.raises(EditError, match=r"not in project 'edits': \[999\]"):
        service.add_tags([image, 999], ["x"])
    with pytest.raises(EditError, match="tag is empty"):
        service.add_tags([image], ["  "])
    assert active_tags(project, image) == {}


def test_manual_tag_category_comes_from_the_categorizer(project: Project) -> None:
    image = add_image(project, "a.png")
    service = EditService(project, categorize=lambda tags: {t: "copyright" for t in tags if t == "vocaloid"})
    service.add_tags([image], ["vocaloid", "unknown thing"])
    details = service.get_image_details(image)
    assert {t.tag: t.category for t in details.tags} == {"vocaloid": "copyright", "unknown thing": None}


def link(project: Project, a: int, b: int, distance: int) -> None:
    with project.db.session(write=True) as s:
        s.add(NearDuplicateRecord(image_id=a, match_image_id=b, distance=distance))


def test_near_duplicate_review_keeps_one_excludes_others_and_undoes(project: Project) -> None:
    a, b, c, d, e = (add_image(project, f"{n}.png") for n in "abcde")
    link(project, b, a, 3)
    link(project, c, b, 5)
    link(project, e, d, 1)
    service = EditService(project)

    groups = service.near_duplicate_groups()
    assert [g.image_ids for g in groups] == [(a, b, c), (d, e)]
    assert groups[0].distance_to(a, b) == 3 and groups[0].distance_to(a, c) is None

    result = service.resolve_group(b, [a, c])

    assert set(result.changed_ids) == {a, b, c}
    assert [g.image_ids for g in service.near_duplicate_groups()] == [(d, e)]
    with project.db.session() as s:
        excluded = {row.id: row.excluded for row in s.execute(select(ImageRecord.id, ImageRecord.excluded))}
    assert excluded == {a: True, b: False, c: True, d: False, e: False}
    reviewed = service.near_duplicate_groups(include_reviewed=True)
    assert [m.excluded for m in reviewed[0].members] == [True, False, True]

    EditCommand(result).undo(service)
    assert [g.image_ids for g in service.near_duplicate_groups()] == [(a, b, c), (d, e)]
    assert not any(m.excluded for g in service.near_duplicate_groups() for m in g.members)
    with pytest.raises(EditError, match="at least one image to exclude"):
        service.resolve_group(a, [a])


def test_dismissed_group_leaves_images_included(project: Project) -> None:
    a, b = add_image(project, "a.png"), add_image(project, "b.png")
    link(project, b, a, 2)
    service = EditService(project)
    service.dismiss_group([a, b])
    assert service.near_duplicate_groups() == []
    assert not any(m.excluded for m in service.near_duplicate_groups(include_reviewed=True)[0].members)


def test_rejected_model_tag_survives_reannotation_and_undo_still_restores_it(project: Project) -> None:
    from lorairo.annotations.ai_annotator import ModelOutput, TagOutput
    from lorairo.services.annotation_store import store_output

    image = add_image(project, "a.png")

    def annotate() -> None:
        output = ModelOutput("wd-test", tags=(TagOutput("smile", "general", 0.9), TagOutput("cat", "general", 0.8)))
        with project.db.session(write=True) as s:
            store_output(s, image, output, None, lambda name: name)

    annotate()
    service = EditService(project)
    service.add_tags([image], ["my tag"])
    removed = service.remove_tags([image], ["smile"])

    annotate()  # the model says "smile" again: its rows are replaced, the rejection is kept

    assert active_tags(project, image) == {"cat": "model", "my tag": "manual"}
    assert EditCommand(removed).undo(service).changed_ids == (image,)
    assert active_tags(project, image) == {"cat": "model", "smile": "model", "my tag": "manual"}


def test_each_edit_says_what_kind_of_data_it_changed(project: Project) -> None:
    """`EditResult.to_changes()` is what the GUI broadcasts: the flags decide which views reload."""
    a = add_image(project, "a.png", tags={"cat": "general"})
    b = add_image(project, "b.png")
    service = EditService(project)

    added = service.add_tags([a, b], ["smile"]).to_changes()
    assert added.image_ids == {a, b} and added.tags
    assert not (added.captions or added.scores or added.ratings or added.exclusion or added.added)
    caption = service.set_caption(a, "a cat").to_changes()
    assert caption.image_ids == {a} and caption.captions and not caption.tags
    assert service.set_rating([b], "general").to_changes().ratings
    assert service.set_score([a], 7.0).to_changes().scores
    undone = EditCommand(service.remove_tags([a], ["cat"])).undo(service).to_changes()
    assert undone.image_ids == {a} and undone.tags
    link(project, a, b, 3)
    resolved = service.resolve_group(a, [b]).to_changes()
    assert resolved.image_ids == {a, b} and resolved.exclusion and resolved.links
    assert service.add_tags([a], ["smile"]).to_changes().is_empty()  # nothing changed: nothing to broadcast
