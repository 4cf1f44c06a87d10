"""ProjectService: names, create/list/open/rename/delete, recent projects."""

from __future__ import annotations

import pytest

from lorairo.exceptions import ProjectError
from lorairo.services.configuration_service import ConfigurationService
from lorairo.services.project_service import ProjectService, validate_project_name


@pytest.fixture
def projects() -> ProjectService:
    return ProjectService(ConfigurationService())


@pytest.mark.parametrize(
    "name", ["a/b", "a\\b", "..", ".hidden", "CON", "lpt1.txt", " padded", "dot.", "", "x:y", "a\x01"]
)
def test_invalid_names_are_refused(name: str) -> None:
    with pytest.raises(ProjectError):
        validate_project_name(name)


@pytest.mark.parametrize("name", ["demo", "キャラ_データセット", "my dataset v2", "été-2025"])
def test_unicode_and_spaces_are_fine(name: str) -> None:
    assert validate_project_name(name) == name


def test_create_makes_database_and_folders(projects: ProjectService) -> None:
    project = projects.create("demo")
    try:
        assert project.db_path.is_file()
        assert project.images_dir.is_dir()
        assert project.thumbnails_dir.is_dir()
    finally:
        project.close()
    # No staging folder left behind.
    assert sorted(p.name for p in projects.root.iterdir()) == ["demo"]


def test_create_twice_is_an_error(projects: ProjectService) -> None:
    projects.create("demo").close()
    with pytest.raises(ProjectError, match="already exists"):
        projects.create("demo")


def test_list_shows_counts_and_newest_first(projects: ProjectService) -> None:
    projects.create("first").close()
    projects.create("second").close()
    infos = projects.list_projects()
    assert {i.name for i in infos} == {"first", "second"}
    assert all(i.image_count == 0 and i.error is None for i in infos)


def test_open_missing_project_is_a_clear_error(projects: ProjectService) -> None:
    with pytest.raises(ProjectError, match="no project named 'ghost'"):
        projects.open("ghost")


def test_rename_and_recent(projects: ProjectService) -> None:
    projects.create("old").close()
    projects.open("old").close()
    projects.rename("old", "new")
    assert projects.recent() == ["new"]
    assert projects.exists("new") and not projects.exists("old")


def test_delete_needs_the_name_typed_back(projects: ProjectService) -> None:
    projects.create("demo").close()
    with pytest.raises(ProjectError, match="not deleted"):
        projects.delete("demo", confirm="yes")
    assert projects.exists("demo")
    projects.delete("demo", confirm="demo")
    assert not projects.exists("demo")
    assert projects.recent() == []
