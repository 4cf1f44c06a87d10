"""Curation with image embeddings: `lorairo embed`, `similar`, `outliers`, `near-duplicates`, `select --diverse`,
`clusters`. Each command names the image ids it reports; `--json` prints them for scripts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from lorairo.cli.annotate_cmd import _progress
from lorairo.cli.common import console, err_console, print_json, state
from lorairo.cli.selection import Selection
from lorairo.services.embeddings.defaults import DEFAULT_DUPLICATE_THRESHOLD, DEFAULT_MODEL

if TYPE_CHECKING:  # numpy, faiss, the database and the model library: loaded only by the commands using them
    from lorairo.services.embeddings.service import EmbeddingService, Ranked
    from lorairo.services.project_service import Project

ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project name.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
FilterOpt = Annotated[str, typer.Option("--filter", "-f", help="Only images matching this filter (lorairo query).")]
ModelOpt = Annotated[
    str, typer.Option("--model", "-m", help="Embedding model (default: the project's only embedded one).")
]


def _service(proj: Project) -> EmbeddingService:
    from lorairo.services.annotation_service import configure_annotator_library
    from lorairo.services.embeddings.service import EmbeddingService

    configure_annotator_library(state.config)
    return EmbeddingService(proj, api_keys=state.config.api_keys(), workers=state.config.max_workers())


def _candidates(proj: Project, filter_text: str) -> list[int] | None:
    return Selection(None, filter_text).image_ids(proj) if filter_text else None


def _embed_hint(proj: Project, model: str) -> str:
    from lorairo.services.embeddings.service import embed_hint

    return embed_hint(proj, model)


def _report(
    proj: Project, model: str, missing: list[int], json: bool, payload: dict[str, Any], show: Callable[[], None]
) -> None:
    """Every curation command's output: JSON (`model`, its payload, `missing_embeddings`), or `show()` then the
    note on images left out for want of an embedding."""
    if json:
        print_json({"model": model, **payload, "missing_embeddings": missing})
        return
    show()
    if missing:
        err_console.print(
            f"[yellow]note:[/] {len(missing)} images have no {model} embedding yet and are left out; "
            f"compute them with `{_embed_hint(proj, model)}`",
            highlight=False,
        )


def _report_ranked(proj: Project, ranked: Ranked, json: bool, *, title: str, score: str, json_key: str) -> None:
    """A ranked result (similar, outliers): a table of rank, ID, file and `score`, or JSON results."""
    payload = {"results": [{"id": i, json_key: s} for i, s in ranked.results]}
    _report(
        proj,
        ranked.model,
        ranked.missing,
        json,
        payload,
        lambda: console.print(_ranked_table(proj, ranked, title, score)),
    )


def _file_names(proj: Project, ids: list[int]) -> dict[int, str]:
    with proj.db.session() as session:
        from sqlalchemy import select as sql_select

        from lorairo.database.schema import ImageRecord

        rows = session.execute(sql_select(ImageRecord.id, ImageRecord.file_name).where(ImageRecord.id.in_(ids)))
        return {int(i): str(name) for i, name in rows}


def _ranked_table(proj: Project, ranked: Ranked, title: str, score_name: str) -> Table:
    names = _file_names(proj, [i for i, _ in ranked.results])
    table = Table("#", "ID", "File", score_name, title=title)
    for rank, (image_id, value) in enumerate(ranked.results, 1):
        table.add_row(str(rank), str(image_id), names.get(image_id, ""), f"{value:.4f}")
    return table


def embed(
    project: ProjectOpt,
    model: Annotated[str, typer.Option("--model", "-m", help="Embedding model or aesthetic scorer.")] = DEFAULT_MODEL,
    filter_text: FilterOpt = "",
    json: JsonOpt = False,
) -> None:
    """Compute image embeddings for images that do not have one yet (Ctrl+C keeps what was stored)."""
    proj = state.projects.open(project)
    cancel = threading.Event()
    try:
        service = _service(proj)
        ids = _candidates(proj, filter_text)
        with _progress(json) as bar:
            task = bar.add_task(f"Embedding ({model})", total=1, rate="")

            def progress(done: int, total: int, message: str) -> None:
                elapsed = bar.tasks[0].elapsed or 0.0
                rate = f"{done / elapsed:.1f} img/s" if elapsed > 0 and done else message
                bar.update(task, completed=done, total=max(total, 1), rate=rate)

            try:
                summary = service.embed(model, ids, progress=progress, cancel=cancel)
            except KeyboardInterrupt:
                # The chunk in flight is dropped; every chunk before it is on disk and counts as done next time.
                cancel.set()
                err_console.print("interrupted: embeddings stored so far are kept; run the command again to go on")
                raise typer.Exit(130) from None
    finally:
        proj.close()
    if json:
        print_json(asdict(summary))
    else:
        if summary.rebuilt:
            console.print(f"[yellow]The stored embeddings were damaged and were rebuilt:[/] {summary.rebuilt}")
        console.print(
            f"{model}: {summary.embedded} embedded, {summary.already} already had one, {summary.failed} failed"
            + (f", {summary.removed} stale rows (deleted images, re-runs) dropped" if summary.removed else "")
            + (" (cancelled)" if summary.cancelled else "")
            + f" in {summary.elapsed:.1f} s",
            highlight=False,
        )
        if summary.failure_reasons:
            console.print("Failures by reason: " + ", ".join(f"{k} {v}" for k, v in summary.failure_reasons.items()))
    if summary.failed or summary.cancelled:
        raise typer.Exit(1)


def similar(
    project: ProjectOpt,
    image_id: Annotated[int | None, typer.Option("--id", help="Find images like this image id.")] = None,
    text: Annotated[
        str | None, typer.Option("--text", help='Find images matching a description, e.g. "red dress".')
    ] = None,
    top: Annotated[int, typer.Option("--top", min=1, help="How many to show.")] = 50,
    model: ModelOpt = "",
    filter_text: FilterOpt = "",
    json: JsonOpt = False,
) -> None:
    """The images most like an image (--id) or a text (--text), most similar first."""
    if (image_id is None) == (text is None):
        raise typer.BadParameter("give exactly one of --id or --text")
    proj = state.projects.open(project)
    try:
        service = _service(proj)
        candidates = _candidates(proj, filter_text)
        if image_id is not None:
            ranked = service.similar(image_id, top=top, model=model or None, candidate_ids=candidates)
            title = f"Images like {image_id} ({ranked.model})"
        else:
            assert text is not None
            ranked = service.rank_by_text(text, candidate_ids=candidates, top=top, model=model or None)
            title = f"Images matching {text!r} ({ranked.model})"
        _report_ranked(proj, ranked, json, title=title, score="cosine", json_key="score")
    finally:
        proj.close()


def outliers(
    project: ProjectOpt,
    top: Annotated[int, typer.Option("--top", min=1, help="How many to show.")] = 20,
    k: Annotated[int, typer.Option("--k", min=1, help="Neighbours each image is compared with.")] = 5,
    model: ModelOpt = "",
    filter_text: FilterOpt = "",
    json: JsonOpt = False,
) -> None:
    """Images far from their nearest neighbours (wrong subject, stray screenshots), most isolated first."""
    proj = state.projects.open(project)
    try:
        ranked = _service(proj).outliers(
            top=top, k=k, model=model or None, candidate_ids=_candidates(proj, filter_text)
        )
        title = f"Outliers ({ranked.model}, k={k})"
        _report_ranked(proj, ranked, json, title=title, score="outlier score", json_key="outlier_score")
    finally:
        proj.close()


def near_duplicates(
    project: ProjectOpt,
    threshold: Annotated[
        float, typer.Option("--threshold", help="Cosine similarity at or above which two images are duplicates.")
    ] = DEFAULT_DUPLICATE_THRESHOLD,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the pairs; write no links.")] = False,
    model: ModelOpt = "",
    filter_text: FilterOpt = "",
    json: JsonOpt = False,
) -> None:
    """Find SEMANTIC near-duplicates by image embeddings (cosine >= --threshold: the same picture resized,
    re-cropped, recoloured or re-encoded) and add them to the near-duplicate review beside the pHash links found at
    import. `lorairo duplicates` lists every group (pHash and semantic) and the exact duplicates."""
    proj = state.projects.open(project)
    try:
        service = _service(proj)
        name, pairs, missing = service.near_duplicate_pairs(
            threshold=threshold, model=model or None, candidate_ids=_candidates(proj, filter_text)
        )
        added = 0 if dry_run else service.link_near_duplicates(pairs)

        def show() -> None:
            table = Table("ID", "ID", "cosine", title=f"{len(pairs)} pairs at cosine >= {threshold} ({name})")
            for a, b, s in pairs:
                table.add_row(str(a), str(b), f"{s:.4f}")
            console.print(table)
            if not dry_run:
                console.print(
                    f"{added} new near-duplicate links; review them in the app (details panel: Review "
                    f"near-duplicates…) or list them with `lorairo duplicates --project {proj.name}`"
                )

        payload = {"pairs": [{"a": a, "b": b, "cosine": s} for a, b, s in pairs], "links_added": added}
        _report(proj, name, missing, json, payload, show)
    finally:
        proj.close()


def select(
    project: ProjectOpt,
    diverse: Annotated[int, typer.Option("--diverse", min=0, help="Pick the N most diverse images.")] = 0,
    apply: Annotated[bool, typer.Option("--apply", help="Exclude the others from export (one edit).")] = False,
    undo: Annotated[bool, typer.Option("--undo", help="Undo the last --apply of this project.")] = False,
    weight_by: Annotated[
        str, typer.Option("--weight-by", help="Favour images with a higher score of this name (e.g. aesthetic_v2).")
    ] = "",
    model: ModelOpt = "",
    filter_text: FilterOpt = "",
    json: JsonOpt = False,
) -> None:
    """Pick the N most diverse images of the filter (k-center greedy on the embeddings)."""
    if undo == bool(diverse):
        raise typer.BadParameter("give --diverse N (optionally with --apply), or --undo")
    proj = state.projects.open(project)
    try:
        service = _service(proj)
        if undo:
            result = service.undo_selection()
            if json:
                print_json({"undone": True, "changed": list(result.changed_ids)})
            else:
                console.print(f"{result.description}: export flags restored", highlight=False)
            return
        ranked, rest = service.diverse(
            diverse, candidate_ids=_candidates(proj, filter_text), model=model or None, weight_by=weight_by or None
        )
        chosen = [i for i, _ in ranked.results]
        changed = len(service.apply_selection(chosen, rest).changed_ids) if apply else 0

        def show() -> None:
            console.print(f"{len(chosen)} most diverse of {len(chosen) + len(rest)} ({ranked.model}):", highlight=False)
            console.print(", ".join(str(i) for i in chosen), highlight=False)
            if apply:
                console.print(
                    f"Kept these, excluded the other {len(rest)} from export; "
                    f"undo with `lorairo select --project {proj.name} --undo`.",
                    highlight=False,
                )
            else:
                console.print("Nothing changed; add --apply to exclude the others from export.")

        payload = {"chosen": chosen, "others": rest, "applied": apply, "changed": changed}
        _report(proj, ranked.model, ranked.missing, json, payload, show)
    finally:
        proj.close()


def clusters(
    project: ProjectOpt,
    k: Annotated[int, typer.Option("--k", min=1, help="Number of clusters.")] = 8,
    model: ModelOpt = "",
    filter_text: FilterOpt = "",
    json: JsonOpt = False,
) -> None:
    """Group the images into k clusters (k-means on the embeddings): sizes and representative images."""
    proj = state.projects.open(project)
    try:
        name, groups, missing = _service(proj).clusters(
            k, candidate_ids=_candidates(proj, filter_text), model=model or None
        )

        def show() -> None:
            table = Table(
                "Cluster",
                "Images",
                "Representatives (ids nearest the centre)",
                title=f"{len(groups)} clusters ({name})",
            )
            for number, (size, reps) in enumerate(groups, 1):
                table.add_row(str(number), str(size), ", ".join(str(i) for i in reps))
            console.print(table)

        payload = {"clusters": [{"size": n, "representatives": reps} for n, reps in groups]}
        _report(proj, name, missing, json, payload, show)
    finally:
        proj.close()
