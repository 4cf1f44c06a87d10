"""The grid's "Auto mask (background removal)…": pick a matte model, run `AutoMaskService` as a background job.

The model list and the run are JobManager jobs (listing reads the model configuration and the Hugging Face
cache; the run decodes images and runs the model): the GUI thread only asks which model and shows the outcome.
Each stored batch is broadcast through `ProjectSession.notify`; failures go to the errors panel, one per image.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QInputDialog, QMessageBox, QWidget

if TYPE_CHECKING:
    from lorairo.annotations.ai_annotator import AnnotatorModel
    from lorairo.gui.session import ProjectSession
    from lorairo.gui.workers import Job, JobContext, JobManager
    from lorairo.services.auto_mask import AutoMaskSummary

TITLE = "Auto mask (background removal)"
WHERE = "Auto mask"


def model_label(model: AnnotatorModel) -> str:
    return model.name if model.installed else f"{model.name} (downloads on first use)"


class AutoMaskAction:
    """Runs automatic masks for a selection of the open project."""

    def __init__(
        self, parent: QWidget, session: ProjectSession, jobs: JobManager, show_status: Callable[[str], None]
    ) -> None:
        self.parent = parent
        self.session = session
        self.jobs = jobs
        self.show_status = show_status
        self.last_summary: AutoMaskSummary | None = None

    def start(self, image_ids: Sequence[int]) -> None:
        """Ask for a model (after listing them in the background), then run it on `image_ids`."""
        project = self.session.project
        if project is None or not image_ids:
            return
        ids = list(image_ids)

        def listing(_ctx: JobContext) -> list[AnnotatorModel]:
            from lorairo.services.auto_mask import AutoMaskService

            return AutoMaskService(self.session.config, project).matte_models()

        self.jobs.submit(
            "List background-removal models", listing, on_result=lambda models: self._choose(ids, models), visible=False
        )

    def _choose(self, ids: list[int], models: list[AnnotatorModel]) -> None:
        if not models:
            QMessageBox.information(self.parent, TITLE, "No background-removal model is registered.")
            return
        labels = [model_label(m) for m in models]
        label, ok = QInputDialog.getItem(
            self.parent,
            TITLE,
            f"Mask {len(ids)} image(s) with (images that already have a mask are kept):",
            labels,
            0,
            False,
        )
        if ok and label in labels:
            self.run(ids, models[labels.index(label)].name)

    def run(self, ids: list[int], model_name: str) -> Job | None:
        project = self.session.project
        if project is None:
            return None

        def work(ctx: JobContext) -> AutoMaskSummary:
            from lorairo.services.auto_mask import AutoMaskService

            service = AutoMaskService(self.session.config, project)
            return service.run(ids, model_name, progress=ctx.progress, cancel=ctx.cancel, on_batch=ctx.emit)

        return self.jobs.submit(
            f"Auto mask ({model_name})", work, on_partial=self.session.notify, on_result=self._finished
        )

    def _finished(self, summary: AutoMaskSummary) -> None:
        self.last_summary = summary
        for image_id, reason in summary.failures:
            self.session.report_failure(WHERE, reason, f"image {image_id}")
        state = " (cancelled)" if summary.cancelled else ""
        self.show_status(
            f"Auto mask{state}: {len(summary.masked)} masked, {len(summary.skipped)} already had a mask, "
            f"{len(summary.failures)} failed"
        )
