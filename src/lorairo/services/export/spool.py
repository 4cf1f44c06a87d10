"""The planned images of an export, kept on disk in the staging folder instead of in memory (issue 20).

An export composes every image's caption once, before any image is written, because it must know things about
the whole selection first (unique stems, whether any image has a mask or several captions). At 500k images the
planned records were about 1 GB of memory until the last side file was written; here they go to a file a chunk
at a time and are read back, in plan order, once to make the image jobs and once to write the metadata files.

The file lives in the export's staging folder (same file system, same clean-up: cancel and failure delete the
folder) and is deleted before the folder is moved into place. It is pickle: written and read by this process
only, never from a file someone else could have put there. A `PlannedImage` is a named tuple of plain values
(ints, strings, tuples), which pickle writes and reads in C: about 0.1 s per 50,000 images a pass; the
dataclasses and paths it held before went through Python on every load and made the export 1.2-1.5x slower
than the in-memory one (docs/benchmarks.md, "Export time with the plan spooled").
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from lorairo.services.export.plan import PlannedImage

#: Planned images per pickled chunk: a few hundred KB to write or read at a time.
SPOOL_CHUNK = 512

SPOOL_NAME = ".lorairo-export-plan"


class PlanSpool:
    """Append planned images, then read them back in the order they were added (as often as needed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._buffer: list[PlannedImage] = []
        self._out: BinaryIO | None = path.open("wb")

    def add(self, planned: PlannedImage) -> None:
        if self._out is None:
            raise RuntimeError("the plan spool is closed for writing")
        self._buffer.append(planned)
        self.count += 1
        if len(self._buffer) >= SPOOL_CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._buffer and self._out is not None:
            pickle.dump(self._buffer, self._out, protocol=pickle.HIGHEST_PROTOCOL)
            self._buffer = []

    def finish(self) -> None:
        """Write what is buffered and close the file for writing (reading may start)."""
        if self._out is not None:
            self._flush()
            self._out.close()
            self._out = None

    def __iter__(self) -> Iterator[PlannedImage]:
        self.finish()
        with self.path.open("rb") as spool:
            while True:
                try:
                    chunk: list[PlannedImage] = pickle.load(spool)
                except EOFError:
                    return
                yield from chunk

    def remove(self) -> None:
        self.finish()
        self.path.unlink(missing_ok=True)
