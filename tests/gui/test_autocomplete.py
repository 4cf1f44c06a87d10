"""Autocomplete in every tag field: the project's tags first with their counts, then the vocabulary's with
global counts; an alias shows and inserts its canonical tag; substring matches."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from lorairo.gui.widgets.details.tag_source import TagVocabulary
from lorairo.gui.widgets.tag_completer import TagLineEdit, project_and_vocabulary
from lorairo.gui.workers import JobManager
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.project_service import ProjectService
from lorairo.services.tag_suggestions import short_count

from .factories import insert_images


@pytest.fixture
def vocabulary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> TagVocabulary:
    """A real tag database imported from a small CSV in the bundled (a1111-tagcomplete) format."""
    from genai_tag_db_tools import TagDatabase

    folder = tmp_path / "tagdb"
    csv = tmp_path / "danbooru.csv"
    csv.write_text(
        'long_hair,0,2100000,"longhair"\nblonde_hair,0,1500000,"blond_hair,yellow_hair"\n'
        "hair_ornament,0,900000,\nsmile,0,1800000,\n",
        encoding="utf-8",
    )
    database = TagDatabase(folder)
    database.import_file(csv)
    database.close()
    monkeypatch.setenv("GENAI_TAG_DB_DIR", str(folder))
    words = TagVocabulary()
    assert words.available()
    return words


def test_project_tags_first_then_vocabulary_with_alias_to_canonical(vocabulary: TagVocabulary) -> None:
    project = ProjectService(ConfigurationService()).create("complete")
    insert_images(project, [["long hair", "my hair clip"], ["long hair"], ["smile"]])
    suggest = project_and_vocabulary(lambda: project, vocabulary)
    found = suggest("hair")
    # The project's own tags (substring "hair" inside "my hair clip" too), most used first, with counts.
    assert [(s.insert, s.source) for s in found[:2]] == [("long hair", "project"), ("my hair clip", "project")]
    assert found[0].label == "long hair  ·  2 in project"
    vocabulary_part = [s.insert for s in found if s.source == "vocabulary"]
    assert "long hair" not in vocabulary_part  # already offered as a project tag
    assert {"hair ornament", "blonde hair"} <= set(vocabulary_part)
    alias = suggest("blond_h")
    hit = next(s for s in alias if s.source == "vocabulary")
    assert hit.insert == "blonde hair" and hit.label == "blond hair → blonde hair  ·  1.5M"
    project.close()


def test_the_field_shows_labels_and_inserts_the_canonical_tag(qtbot, vocabulary: TagVocabulary) -> None:  # type: ignore[no-untyped-def]
    jobs = JobManager()
    field = TagLineEdit(jobs, project_and_vocabulary(lambda: None, vocabulary))
    qtbot.addWidget(field)
    field.show()
    field.setFocus()
    qtbot.waitUntil(field.hasFocus)
    qtbot.keyClicks(field, "smile, yellow_h")
    qtbot.waitUntil(lambda: bool(field.suggestions()), timeout=10_000)
    assert field.suggestions()[0] == ("yellow hair → blonde hair  ·  1.5M", "blonde hair")
    field.completer_.activated.emit("blonde hair")  # what choosing the line does (its completion role)
    assert field.text() == "smile, blonde hair"
    qtbot.keyClick(field, Qt.Key.Key_Escape)
    jobs.shutdown()


def test_short_counts() -> None:
    assert [short_count(n) for n in (0, 999, 1234, 25_000, 2_500_000)] == ["0", "999", "1.2k", "25k", "2.5M"]
