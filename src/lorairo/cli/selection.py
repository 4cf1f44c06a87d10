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
    from lorairo.services.embeddings.search import SimilarRanking
    from lorairo.services.filter_language import IdList, ImageFilter
    from lorairo.services.image_query_service import ImageQueryService
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
        self.ranking: SimilarRanking | None = None  # set by image_ids() when the filter has a similar: term

    @property
    def everything(self) -> bool:
        return self.ids is None and self.filter is None

    def image_ids(self, project: Project) -> list[int]:
        """The selected IDs (the order given for --ids, else import order; most similar first for a `similar:`
        filter, see `ranking`). An ID named one by one that the project does not have is an error naming it,
        never silently dropped; a range (`1-100`) selects the images it covers."""
        from lorairo.cli.common import state
        from lorairo.exceptions import LoRAIroException
        from lorairo.services.image_query_service import ImageQueryService
        from lorairo.services.quality_rules import QualityThresholds

        ranker = None
        if self.filter is not None and self.filter.similar is not None:
            from lorairo.services.embeddings.search import FilterRanker

            ranker = FilterRanker(project, state.config)  # the CLI's configuration: the user's text models
        service = ImageQueryService(project.db, QualityThresholds.from_config(state.config.get), ranker)
        if self.ids is None:
            if self.filter is not None and self.filter.similar is not None:
                return self._rank(service, self.filter, None)
            return service.query_ids(self.filter)
        known = service.existing_ids(self.ids.ids)
        missing = sorted(self.ids.named - known)
        if missing:
            shown = ", ".join(str(i) for i in missing[:10]) + (" ..." if len(missing) > 10 else "")
            raise LoRAIroException(f"--ids: no image with ID {shown} in project {project.name!r}")
        if self.filter is not None and self.filter.similar is not None:
            return self._rank(service, self.filter, [i for i in self.ids.ids if i in known])
        if self.filter is not None:
            known &= set(service.query_ids(self.filter))
        return [i for i in self.ids.ids if i in known]

    def _rank(self, service: ImageQueryService, f: ImageFilter, within: list[int] | None) -> list[int]:
        """Run a `similar:` filter; candidates without an embedding are left out, and the user is told."""
        from lorairo.cli.common import err_console

        self.ranking = service.ranked(f, within)
        if self.ranking.unembedded:
            err_console.print(
                f"[yellow]note:[/] {self.ranking.unembedded} of the selected images have no {self.ranking.model} "
                f"embedding and are left out of similar:; compute them with `{self.ranking.hint}`",
                highlight=False,
            )
        return self.ranking.ids
