"""`lorairo annotate`, `lorairo models list|download`, `lorairo batch submit|status|import`."""

from __future__ import annotations

import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from lorairo.cli.common import console, err_console, print_json, state
from lorairo.cli.selection import FilterOption, IdsOption, Selection
from lorairo.exceptions import AIProviderError
from lorairo.services.annotation_engines import ENGINES, RAY_EXTRA_COMMAND, engine_needs, ray_installed

if TYPE_CHECKING:  # the services import the database, models and images: loaded only by the commands using them
    from rich.progress import Progress

    from lorairo.services.annotation_service import AnnotationRunSummary


JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project name.")]

models_app = typer.Typer(help="List and download annotation models.", no_args_is_help=True)
batch_app = typer.Typer(help="Cloud Batch API jobs (OpenAI, Anthropic).", no_args_is_help=True)


def _progress(json: bool) -> Progress:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=json,
        transient=False,
    )


def annotate(
    project: ProjectOpt,
    models: Annotated[str, typer.Option("--models", "-m", help="Comma-separated model names (lorairo models list).")],
    filter_text: FilterOption = None,
    ids: IdsOption = None,
    rerun: Annotated[bool, typer.Option("--rerun", help="Annotate again images a model already did.")] = False,
    resend: Annotated[
        bool, typer.Option("--resend-policy-violations", help="Also send images a model refused before.")
    ] = False,
    batch: Annotated[bool, typer.Option("--batch", help="Submit cloud models as Batch API jobs instead.")] = False,
    json: JsonOpt = False,
    engine: Annotated[
        str | None,
        typer.Option("--engine", help="Where local models run: local or ray (default: annotation.engine)."),
    ] = None,
    address: Annotated[
        str | None, typer.Option("--address", help="Ray cluster: auto, HOST:6379 or ray://HOST:10001.")
    ] = None,
    gpus_per_replica: Annotated[
        float | None, typer.Option("--gpus-per-replica", help="Ray: GPUs each model replica reserves.")
    ] = None,
    replicas: Annotated[int | None, typer.Option("--replicas", help="Ray: replicas (each holds every model).")] = None,
    ship_bytes: Annotated[
        bool, typer.Option("--ship-bytes", help="Ray: send the images through the object store (no shared FS).")
    ] = False,
) -> None:
    """Annotate images with local and cloud models; results are stored with their provenance.

    With --engine ray the local models run on a Ray cluster (docs/scale-out.md); results are stored here exactly
    as a local run stores them. Needs the optional extra: `uv sync --extra ray`.

    Exit status: 0 when every image got an annotation from every model; 1 when any image failed (a missing
    model file, a provider error, a malformed answer, or a refusal by the provider's policy: the image has no
    annotation from that model). Images skipped on purpose (already annotated, or refused before and not
    resent) are not failures. Each failure reason is printed with its first messages and written to the log.
    """
    from lorairo.services.annotation_service import AnnotationService, require_available
    from lorairo.services.batch_annotation_service import BatchAnnotationService

    names = [m.strip() for m in models.split(",") if m.strip()]
    if not names:
        raise typer.BadParameter("give at least one model with --models")
    chosen = engine or str(state.config.get("annotation.engine"))
    if chosen not in ENGINES:
        raise typer.BadParameter(f"--engine must be one of {', '.join(ENGINES)} (got {chosen!r})")
    if chosen == "ray" and not ray_installed():
        err_console.print(f"error: the ray engine needs the optional extra 'ray': run `{RAY_EXTRA_COMMAND}`")
        raise typer.Exit(1)
    selection = Selection(ids, filter_text)  # parsed before the project opens: a typo fails at once
    proj = state.projects.open(project)
    try:
        image_ids = selection.image_ids(proj)  # an unknown ID is an error before any model is loaded
        service = AnnotationService(state.config, proj)
        require_available(service, names)
        if batch:
            jobs = [asdict(BatchAnnotationService(service).submit(image_ids, name)) for name in names]
            if json:
                print_json({"batch_jobs": jobs})
            else:
                for job in jobs:
                    console.print(
                        f"Submitted batch {job['remote_id']} ({job['n_requests']} requests) for {job['model_name']}"
                    )
            return
        plan = service.plan(image_ids, names, rerun=rerun)
        for name, flagged in plan.policy_violations.items():
            action = "sending them again" if resend else "skipping them (--resend-policy-violations to send)"
            err_console.print(f"[yellow]warning:[/] {len(flagged)} images were refused by {name} before; {action}")
        cancel = threading.Event()
        with _progress(json) as bar:
            task = bar.add_task("Annotating", total=max(plan.total_pairs, 1), rate="")

            def progress(done: int, total: int, message: str) -> None:
                elapsed = bar.tasks[0].elapsed or 0.0
                rate = f"{done / elapsed:.1f} img·model/s" if elapsed > 0 else ""
                bar.update(task, completed=done, total=max(total, 1), rate=rate)

            try:
                if chosen == "ray":
                    from lorairo.services.annotation_engines.ray_engine import RayOptions, run_on_ray

                    options = RayOptions.from_config(
                        state.config,
                        address=address,
                        replicas=replicas,
                        gpus_per_replica=gpus_per_replica,
                        ship_bytes=ship_bytes,
                    )
                    summary = run_on_ray(
                        service, image_ids, names, options, rerun=rerun, progress=progress, cancel=cancel
                    )
                else:
                    summary = service.run(
                        image_ids, names, rerun=rerun, resend_policy_violations=resend, progress=progress, cancel=cancel
                    )
            except KeyboardInterrupt:
                cancel.set()
                err_console.print(
                    "Interrupted: every result received is saved; run the same command again to annotate the rest."
                )
                raise
    finally:
        proj.close()
    if json:
        print_json(asdict(summary) | {"images_per_second": summary.images_per_second})
    else:
        _print_summary(summary)
    if summary.failed_total:
        raise typer.Exit(1)


def _print_summary(summary: AnnotationRunSummary) -> None:
    table = Table("Model", "Annotated", "Failed", "Policy violations", "Already done", "Skipped (policy)")
    for name in summary.models:
        table.add_row(
            name,
            str(summary.annotated.get(name, 0)),
            str(summary.failed.get(name, 0)),
            str(summary.policy_violations.get(name, 0)),
            str(summary.skipped_done.get(name, 0)),
            str(summary.skipped_policy.get(name, 0)),
        )
    console.print(table)
    console.print(f"{summary.images} images in {summary.elapsed:.1f} s ({summary.images_per_second:.1f} images/s)")
    if summary.failed_total:
        _print_failures(summary)


def _print_failures(summary: AnnotationRunSummary) -> None:
    """Each failure reason with its count and first messages, on stderr (the table above is the result)."""
    n = summary.failed_total
    err_console.print(f"[red]error:[/] {n} image-model pair{'s' if n != 1 else ''} got no annotation:")
    for reason, count in sorted(summary.failure_reasons.items(), key=lambda kv: (-kv[1], kv[0])):
        err_console.print(f"  [bold]{reason}[/] ({count})")
        for message in summary.failure_messages.get(reason, []):
            err_console.print(f"    {escape(message)}", highlight=False)
    err_console.print(f"Details: {state.config.log_file_path()}", highlight=False)


@models_app.command("list")
def models_list(json: JsonOpt = False) -> None:
    """Every model: installed or what it needs (files, an extra, an API key), and the device it runs on."""
    from lorairo.annotations import ai_annotator
    from lorairo.services.annotation_service import configure_annotator_library

    configure_annotator_library(state.config)
    listed = ai_annotator.get_available_annotator_models(state.config.api_keys())
    if json:
        print_json([asdict(m) for m in listed])
        return
    table = Table("Model", "Kind", "Provider", "Device", "Status")
    for m in listed:
        # escape: needs hold brackets ("lorairo[captioners]") that rich would take for markup
        status = "[green]ready[/]" if m.available else "[yellow]" + escape("; ".join(m.needs)) + "[/]"
        table.add_row(m.name, m.kind, m.provider_name, m.device, status)
    console.print(table)
    engines = ", ".join(f"{e} ({engine_needs(e) or 'ready'})" for e in ENGINES)
    console.print(f"Engines (annotate --engine): {engines}", highlight=False)


@models_app.command("download")
def models_download(name: str, json: JsonOpt = False) -> None:
    """Download a model's files into the Hugging Face cache."""
    from lorairo.annotations import ai_annotator
    from lorairo.services.annotation_service import configure_annotator_library

    configure_annotator_library(state.config)
    files = ai_annotator.download_model(name)
    if json:
        print_json({"model": name, "files": files})
    else:
        for file, path in files.items():
            console.print(f"{file}: {path}", highlight=False)


@batch_app.command("submit")
def batch_submit(
    project: ProjectOpt,
    model: Annotated[str, typer.Option("--model", "-m", help="A cloud model of OpenAI or Anthropic.")],
    filter_text: FilterOption = None,
    ids: IdsOption = None,
    json: JsonOpt = False,
) -> None:
    """Submit images as one Batch API job (cheaper, results within 24 h)."""
    from lorairo.services.annotation_service import AnnotationService, require_available
    from lorairo.services.batch_annotation_service import BatchAnnotationService

    selection = Selection(ids, filter_text)
    proj = state.projects.open(project)
    try:
        service = AnnotationService(state.config, proj)
        require_available(service, [model])
        info = BatchAnnotationService(service).submit(selection.image_ids(proj), model)
    finally:
        proj.close()
    if json:
        print_json(asdict(info))
    else:
        console.print(f"Submitted batch {info.remote_id}: {info.n_requests} requests to {info.model_name}")


@batch_app.command("status")
def batch_status(
    project: ProjectOpt, refresh: bool = typer.Option(True, help="Ask the provider."), json: JsonOpt = False
) -> None:
    """The project's batch jobs and their status."""
    from lorairo.services.annotation_service import AnnotationService
    from lorairo.services.batch_annotation_service import BatchAnnotationService

    proj = state.projects.open(project)
    try:
        service = BatchAnnotationService(AnnotationService(state.config, proj))
        jobs = service.jobs()
        if refresh:
            jobs = [service.refresh(j.id) if not j.finished else j for j in jobs]
    finally:
        proj.close()
    if json:
        print_json([asdict(j) for j in jobs])
        return
    table = Table("ID", "Batch", "Model", "Requests", "Status", "Submitted", "Imported")
    for j in jobs:
        table.add_row(
            str(j.id),
            j.remote_id,
            j.model_name,
            str(j.n_requests),
            j.status,
            f"{j.submitted_at:%Y-%m-%d %H:%M}",
            f"{j.imported_at:%Y-%m-%d %H:%M}" if j.imported_at else "",
        )
    console.print(table)


@batch_app.command("import")
def batch_import(
    project: ProjectOpt,
    job: Annotated[str, typer.Option("--job", help="Batch id (or LoRAIro job number) to fetch and import.")] = "",
    file: Annotated[Path | None, typer.Option("--file", help="A result JSONL already on disk.")] = None,
    model: Annotated[str, typer.Option("--model", help="Model name for a result file without a manifest.")] = "",
    json: JsonOpt = False,
) -> None:
    """Fetch a finished batch's results (or read a result file) and store them in the project."""
    from lorairo.services.annotation_service import AnnotationService
    from lorairo.services.batch_annotation_service import BatchAnnotationService

    if not job and file is None:
        raise typer.BadParameter("give --job or --file")
    proj = state.projects.open(project)
    try:
        service = BatchAnnotationService(AnnotationService(state.config, proj))
        if file is not None:
            if not file.is_file():
                raise AIProviderError(f"{file}: no such result file")
            summary = service.import_results_file(file, model_name=model or None)
        else:
            summary = service.import_results(int(job) if job.isdigit() else job)
    finally:
        proj.close()
    if json:
        print_json(summary.as_dict())
    else:
        console.print(
            f"Imported results for {summary.images} images: {summary.annotated} annotated, "
            f"{summary.failed} failed, {summary.unmatched_keys} unmatched"
        )
