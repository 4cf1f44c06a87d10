"""run_jobs' bookkeeping when the worker pool breaks: every image gets a result, none silently vanishes."""

from __future__ import annotations

from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool

import pytest

from lorairo.services.export import runner
from lorairo.services.export.imaging import ImageJob, ImageJobResult


class _PoolThatBreaks:
    """Runs chunks inline until the `fail_at`-th submit; from then on the pool is broken (a worker died)."""

    fail_at = 14

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.submits = 0

    def submit(self, fn, batch):  # type: ignore[no-untyped-def]
        self.submits += 1
        if self.submits >= self.fail_at:
            raise BrokenProcessPool("A process in the process pool was terminated abruptly")
        future: Future[list[ImageJobResult]] = Future()
        future.set_result([ImageJobResult(job.image_id, size=(8, 8)) for job in batch])
        return future

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        pass


def test_a_broken_pool_reports_every_image_not_yet_processed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runner, "ProcessPoolExecutor", _PoolThatBreaks)
    jobs = [ImageJob(i, f"/src/{i}.png", f"/out/{i}.png", None) for i in range(2000)]
    results: list[ImageJobResult] = []
    assert runner.run_jobs(jobs, workers=2, on_result=results.append)
    assert sorted(r.image_id for r in results) == list(range(2000))
    failed = [r for r in results if r.error]
    assert failed and all("worker process died" in (r.error or "") for r in failed)
    assert len(results) - len(failed) == (_PoolThatBreaks.fail_at - 1) * 8  # chunks of 8 that did run
