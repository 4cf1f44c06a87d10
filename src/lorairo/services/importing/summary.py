"""Outcomes of an import: one per file, and the frozen summary the service returns."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lorairo.storage.names import display_name
from lorairo.storage.sidecars import NOTE_ENCODING, SidecarNote

OUTCOME_IMPORTED = "imported"
OUTCOME_DUPLICATE = "duplicate"  # same bytes as an image already in the project: only its path is recorded
OUTCOME_NEAR_DUPLICATE = "near_duplicate"  # imported, and linked to a look-alike for review
OUTCOME_SKIPPED = "skipped"
OUTCOMES = (OUTCOME_IMPORTED, OUTCOME_DUPLICATE, OUTCOME_NEAR_DUPLICATE, OUTCOME_SKIPPED)
REASON_ALREADY_IMPORTED = "already imported"
REASON_UNREADABLE_FOLDER = "unreadable folder"
REASON_UNSUPPORTED_EXTENSION = "unsupported extension"


@dataclass(frozen=True, slots=True)  # one per file of a run: 100k of them in a large import
class FileOutcome:
    """What happened to one file. `reason` is a short category (skips), `detail` the specifics."""

    path: str
    outcome: str
    reason: str | None = None
    detail: str | None = None
    image_id: int | None = None  # the image it became, duplicates or nearly duplicates

    @property
    def db_reason(self) -> str | None:
        """The text stored in `import_outcomes.reason`."""
        if self.reason and self.detail:
            return f"{self.reason}: {self.detail}"
        return self.reason or self.detail


@dataclass(frozen=True)
class ImportSummary:
    """The result of one import run (counts, reasons, speed) plus every file's outcome."""

    run_id: int
    status: str  # completed / cancelled
    total: int
    imported: int
    duplicates: int
    near_duplicates: int
    skipped: int
    skipped_by_reason: dict[str, int]
    elapsed_s: float
    images_per_s: float
    image_ids: tuple[int, ...] = ()  # images added by this run, in import order
    outcomes: tuple[FileOutcome, ...] = field(default=(), repr=False)
    sidecar_notes: tuple[SidecarNote, ...] = ()  # sidecars not UTF-8, cleaned, too large or unreadable
    sidecars_changed: int = 0  # sidecars of known images edited since they were last read
    sidecar_tags_added: int = 0  # tags added from sidecars (new images, duplicates and edited sidecars)
    # Images that were not new to this run but took a sidecar (a duplicate's, an edited one): views reload them.
    sidecar_merged_ids: tuple[int, ...] = ()

    @property
    def non_utf8_sidecars(self) -> dict[str, str]:
        """Sidecar path -> how it was decoded, for every sidecar that was not UTF-8."""
        return {note.path: note.detail for note in self.sidecar_notes if note.kind == NOTE_ENCODING}

    @property
    def added(self) -> int:
        """Images added to the project (near-duplicates are added too)."""
        return self.imported + self.near_duplicates

    @classmethod
    def build(
        cls,
        run_id: int,
        status: str,
        outcomes: Sequence[FileOutcome],
        elapsed_s: float,
        image_ids: Sequence[int],
        *,
        sidecar_notes: Sequence[SidecarNote] = (),
        sidecars_changed: int = 0,
        sidecar_tags_added: int = 0,
        sidecar_merged_ids: Iterable[int] = (),
    ) -> ImportSummary:
        counts = Counter(item.outcome for item in outcomes)
        reasons = Counter(item.reason or "unknown" for item in outcomes if item.outcome == OUTCOME_SKIPPED)
        return cls(
            run_id=run_id,
            status=status,
            total=len(outcomes),
            imported=counts[OUTCOME_IMPORTED],
            duplicates=counts[OUTCOME_DUPLICATE],
            near_duplicates=counts[OUTCOME_NEAR_DUPLICATE],
            skipped=counts[OUTCOME_SKIPPED],
            skipped_by_reason=dict(reasons.most_common()),
            elapsed_s=elapsed_s,
            images_per_s=len(outcomes) / elapsed_s if elapsed_s > 0 else 0.0,
            image_ids=tuple(image_ids),
            outcomes=tuple(outcomes),
            sidecar_notes=tuple(sidecar_notes),
            sidecars_changed=sidecars_changed,
            sidecar_tags_added=sidecar_tags_added,
            sidecar_merged_ids=tuple(sorted(sidecar_merged_ids)),
        )

    def as_dict(self, *, with_files: bool = True) -> dict[str, Any]:
        """JSON-ready form (what `lorairo import --json` prints)."""
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "status": self.status,
            "total": self.total,
            "imported": self.imported,
            "duplicates": self.duplicates,
            "near_duplicates": self.near_duplicates,
            "skipped": self.skipped,
            "skipped_by_reason": self.skipped_by_reason,
            "elapsed_s": round(self.elapsed_s, 3),
            "images_per_s": round(self.images_per_s, 2),
            "sidecars_changed": self.sidecars_changed,
            "sidecar_tags_added": self.sidecar_tags_added,
            # Paths as people read them: bytes of a name that was not UTF-8 become U+FFFD (JSON has no other
            # way to carry them).
            "sidecars_not_utf8": {display_name(p): how for p, how in self.non_utf8_sidecars.items()},
            "sidecar_notes": [
                {"path": display_name(n.path), "kind": n.kind, "detail": n.detail} for n in self.sidecar_notes
            ],
        }
        if with_files:
            data["files"] = [
                {
                    "path": display_name(o.path),
                    "outcome": o.outcome,
                    "reason": o.reason,
                    "detail": o.detail,
                    "image_id": o.image_id,
                }
                for o in self.outcomes
            ]
        return data
