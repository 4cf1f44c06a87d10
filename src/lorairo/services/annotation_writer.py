"""The one thread that stores annotation results while a run goes on.

Cloud answers are paid for: each is handed over the moment it arrives (from the library's network thread) and
must be in the database before the next kill -9 could strike, not at the end of a 100-image batch. The writer
takes results from any thread, and stores whatever has queued up in one transaction (group commit): one
answer at a time when answers trickle in, a whole chunk at once when a local model delivers one. A resumed run
skips every (image, model) pair with a stored result, so nothing paid for is sent twice.
"""

from __future__ import annotations

import queue
import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from loguru import logger

from lorairo.annotations.ai_annotator import ModelOutput
from lorairo.services.changes import Changes

# How many messages of each failure reason a summary (and the log) shows.
MESSAGES_PER_REASON = 3


@dataclass
class Tally:
    """What a run stored so far, counted by the writer thread (read by the run once the writer is closed)."""

    annotated: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    failed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    policy: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    reasons: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    messages: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    images: set[int] = field(default_factory=set)

    def count(self, image_id: int, output: ModelOutput) -> None:
        if output.ok:
            self.annotated[output.model_name] += 1
            self.images.add(image_id)
            return
        reason = output.error_code or "unknown"
        self.failed[output.model_name] += 1
        self.reasons[reason] += 1
        if output.is_policy_violation:
            self.policy[output.model_name] += 1
        message = f"{output.model_name}: {output.error_message or reason}"
        shown = self.messages[reason]
        if len(shown) < MESSAGES_PER_REASON and message not in shown:
            shown.append(message)
            # Written as it happens: the log has the reason even when the run is killed later.
            logger.warning("annotation failed ({}): {}", reason, message)


StoreFunction = Callable[[dict[int, list[ModelOutput]], Tally], Changes]


class ResultWriter:
    """Stores (image id, output) pairs on its own thread; `flush()` waits until all put so far are stored.

    A storage error (disk full, database locked for too long) stops storing; `flush()` and `close()` re-raise
    it in the caller's thread, so the run ends with the error instead of annotating into the void.
    """

    def __init__(self, store: StoreFunction, tally: Tally, on_stored: Callable[[Changes], None] | None) -> None:
        self._store = store
        self._tally = tally
        self._on_stored = on_stored
        self._queue: queue.SimpleQueue[tuple[int, ModelOutput] | threading.Event | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="annotation-writer", daemon=True)
        self._thread.start()

    def put(self, image_id: int, output: ModelOutput) -> None:
        """Queue one result (any thread)."""
        self._queue.put((image_id, output))

    def flush(self) -> None:
        """Wait until every result put so far is committed (and reported to `on_stored`)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait()
        self._raise()

    def close(self) -> None:
        """Store what is queued and stop the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()
        self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _loop(self) -> None:
        while True:
            items = [self._queue.get()]
            while True:  # take everything queued now: one transaction for all of it
                try:
                    items.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            outputs: dict[int, list[ModelOutput]] = defaultdict(list)
            waiters: list[threading.Event] = []
            stop = False
            for item in items:
                if item is None:
                    stop = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)
                else:
                    outputs[item[0]].append(item[1])
            if outputs and self._error is None:
                self._write(dict(outputs))
            for waiter in waiters:
                waiter.set()
            if stop:
                return

    def _write(self, outputs: dict[int, list[ModelOutput]]) -> None:
        try:
            changes = self._store(outputs, self._tally)
        except BaseException as exc:  # re-raised by flush()/close() in the run's thread
            logger.exception("storing annotation results failed")
            self._error = exc
            return
        if self._on_stored is not None and not changes.is_empty():
            try:
                self._on_stored(changes)
            except Exception:  # a listener's bug must not stop storing paid answers
                logger.exception("on_batch callback failed")
