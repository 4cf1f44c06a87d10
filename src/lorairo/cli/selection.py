"""Which images a command works on: `--ids` and `--filter`, the same for query, export, annotate and batch.

`--ids` is always a selection of image IDs (`--ids 1,2,5-9`, repeatable, spaces or newlines allowed so the
output of `lorairo query --quiet` can be passed on); `--filter` is the filter language (docs/filters.md).
Both given = the listed images that match the filter. Both are parsed before the project is opened, so a typo
fails at once. Heavy modules are imported inside the functions (CLI start-up time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from lorairo.services.filter_language import IdList, ImageFilter
    from lorairo.services.project_service import Project

IdsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--ids",
        help="Only these image IDs: --ids 1,2,5-9 (ranges inclusive; repeatable). With --filter: those that match.",
    ),
]
FilterOption = Annotated[
    str | None,
    typer.Option(
        "--filter",
        "-f",
        help="Only images matching a filter, e.g. 'long hair, cat|dog, -blurry' (syntax: lorairo query --help).",
    ),
]


class Selection:
    """The parsed `--ids` / `--filter` of one command (parse errors are raised by the constructor)."""

    def __init__(self, ids: list[str] | str | None, filter_text: str | None) -> None:
        from lorairo.services.filter_language import parse_filter, parse_ids

        self.filter_text = filter_text or ""
        self.ids: IdList | None = parse_ids(ids) if ids else None
        self.filter: ImageFilter | None = parse_filter(filter_text) if filter_text and filter_text.strip() else None

    @property
    def everything(self) -> bool:
        return self.ids is None and self.filter is None

    def image_ids(self, project: Project) -> list[int]:
        """The selected IDs (the order given for --ids, else import order). An ID named one by one that the
        project does not have is an error naming it, never silently dropped; a range (`1-100`) selects the
        images it covers."""
        from lorairo.cli.common import state
        from lorairo.exceptions import LoRAIroException
        from lorairo.services.image_query_service import ImageQueryService
        from lorairo.services.quality_rules import QualityThresholds

        service = ImageQueryService(project.db, QualityThresholds.from_config(state.config.get))
        if self.ids is None:
            return service.query_ids(self.filter)
        known = service.existing_ids(self.ids.ids)
        missing = sorted(self.ids.named - known)
        if missing:
            shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise LoRAIroException(f"--ids: no image with ID {shown} in project {project.name!r}")
        if self.filter is not None:
            known &= set(service.query_ids(self.filter))
        return [i for i in self.ids.ids if i in known]
