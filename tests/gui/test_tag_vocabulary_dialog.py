"""Tools > Tag vocabulary…: a tag CSV imported from the app is used at once by autocomplete and categories (no
restart), listed in the import history, cancellable without writing anything, and the open project's
uncategorised tags can be categorised right after."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from lorairo.database.schema import TagRecord
from lorairo.gui.dialogs.tag_vocabulary import TagVocabularyDialog
from lorairo.gui.session import ProjectSession
from lorairo.gui.widgets.details.tag_source import shared_vocabulary
from lorairo.gui.workers import JobManager
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.project_service import Project, ProjectService

from .factories import insert_images


@pytest.fixture
def empty_vocabulary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No vocabulary imported yet, and the process's shared vocabulary knows it (as at first start)."""
    folder = tmp_path / "tagdb"
    monkeypatch.setenv("GENAI_TAG_DB_DIR", str(folder))
    shared_vocabulary().close()
    assert not shared_vocabulary().available()
    yield folder
    shared_vocabulary().close()


@pytest.fixture
def session(qtbot) -> Iterator[tuple[ProjectSession, Project]]:  # type: ignore[no-untyped-def]
    config = ConfigurationService()
    jobs = JobManager()
    session = ProjectSession(config, jobs)
    project = ProjectService(config).create("vocab")
    insert_images(project, [["long hair", "smile"], ["long hair", "my own tag"]], thumbnails=False)
    session.set_project(project)
    yield session, project
    jobs.shutdown()
    session.close()


def _csv(tmp_path: Path) -> Path:
    path = tmp_path / "danbooru.csv"
    path.write_text('long_hair,0,2100000,"longhair"\nsmile,0,1800000,\nhatsune_miku,4,90000,\n', encoding="utf-8")
    return path


def _categories(project: Project) -> dict[str, str | None]:
    with project.db.session() as s:
        return {row.tag: row.category for row in s.execute(select(TagRecord.tag, TagRecord.category))}


def test_import_is_used_at_once_listed_and_recategorises_the_project(  # type: ignore[no-untyped-def]
    qtbot, tmp_path: Path, empty_vocabulary: Path, session: tuple[ProjectSession, Project]
) -> None:
    project_session, project = session
    dialog = TagVocabularyDialog(project_session, project_session.jobs)
    qtbot.addWidget(dialog)
    asked: list[tuple[int, str]] = []
    dialog.confirm_recategorize = lambda missing, name: asked.append((missing, name)) is None
    changed: list[object] = []
    project_session.changed.connect(changed.append)

    dialog.start_import(_csv(tmp_path))
    qtbot.waitUntil(lambda: dialog.last_recategorize is not None, timeout=20_000)

    assert "Imported 3 tags (danbooru) and 1 aliases from danbooru.csv" in dialog.status.text()
    # Autocomplete in this very process, without a restart: the shared vocabulary was reloaded.
    assert [r.name for r in shared_vocabulary().search("hatsune")] == ["hatsune miku"]
    assert shared_vocabulary().categorize(["hatsune miku"]) == {"hatsune miku": "character"}
    # The import history (what `tag-db imports list` shows).
    qtbot.waitUntil(lambda: dialog.history.rowCount() == 1, timeout=10_000)
    assert dialog.history.item(0, 1).text() == "tagcomplete"
    assert dialog.history.item(0, 3).text() == "3"
    assert "danbooru: 3 tags, 1 aliases" in dialog.summary.text()
    # The offer named the project's uncategorised tag rows; accepting categorised the known ones.
    assert asked == [(4, "vocab")]
    assert _categories(project) == {"long hair": "general", "smile": "general", "my own tag": None}
    assert "3 tag(s) on 2 image(s) categorised" in dialog.status.text()
    assert changed, "views learn of the new categories through the change broadcast"


def test_cancel_writes_nothing(  # type: ignore[no-untyped-def]
    qtbot,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    empty_vocabulary: Path,
    session: tuple[ProjectSession, Project],
) -> None:
    from genai_tag_db_tools import TagDatabase

    project_session, _project = session
    real_import = TagDatabase.import_file
    cancelled = threading.Event()

    def import_after_cancel(self: TagDatabase, *args, **kwargs):  # type: ignore[no-untyped-def]
        assert cancelled.wait(10), "the test clicks Cancel while the import runs"
        return real_import(self, *args, **kwargs)

    monkeypatch.setattr(TagDatabase, "import_file", import_after_cancel)
    dialog = TagVocabularyDialog(project_session, project_session.jobs)
    qtbot.addWidget(dialog)
    dialog.start_import(_csv(tmp_path))
    assert dialog.cancel_button.isEnabled() and not dialog.import_button.isEnabled()
    dialog.cancel_button.click()
    cancelled.set()
    qtbot.waitUntil(lambda: dialog.import_button.isEnabled(), timeout=20_000)
    assert dialog.status.text() == "Import cancelled: nothing was written; the vocabulary is as it was."
    assert dialog.last_report is None
    with TagDatabase(empty_vocabulary) as database:
        assert database.imports() == []
        assert database.search("long") == []


def test_a_file_that_is_not_a_vocabulary_is_refused_with_its_name(  # type: ignore[no-untyped-def]
    qtbot, tmp_path: Path, empty_vocabulary: Path, session: tuple[ProjectSession, Project]
) -> None:
    project_session, _project = session
    caption = tmp_path / "photo.csv"
    caption.write_text("a photo of a cat sitting on a sofa in the sun\n", encoding="utf-8")
    dialog = TagVocabularyDialog(project_session, project_session.jobs)
    qtbot.addWidget(dialog)
    dialog.start_import(caption)
    qtbot.waitUntil(lambda: dialog.import_button.isEnabled(), timeout=20_000)
    assert dialog.status.text().startswith("Import failed:")
    assert "photo.csv" in dialog.status.text()
    assert not shared_vocabulary().available()
