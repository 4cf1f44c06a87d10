"""The public entry points: `annotate()`, `list_available_models()`, `download_model()`."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

from image_annotator_lib.core.base import BaseAnnotator, ProgressCallback
from image_annotator_lib.core.cache import get_model_cache
from image_annotator_lib.core.errors import MissingFilesError, error_from_exception
from image_annotator_lib.core.hub import download_model_files, missing_files
from image_annotator_lib.core.phash import phash
from image_annotator_lib.core.pipeline import PipelinedAnnotator, PreparedBatch
from image_annotator_lib.core.registry import backend_class, get_registry
from image_annotator_lib.core.types import (
    AnnotationError,
    AnnotationResult,
    ErrorCode,
    ModelSpec,
    ModelStatus,
    PHashAnnotationResults,
)

logger = logging.getLogger(__name__)
# on_result(key, model name, result): every result, once, as soon as it is final (see `annotate()`)
ResultCallback = Callable[[str, str, AnnotationResult], None]


def _error_results(name: str, count: int, error: AnnotationError, framework: str = "") -> list[AnnotationResult]:
    return [AnnotationResult(model_name=name, framework=framework, error=error) for _ in range(count)]


def _check_results(name: str, results: list[AnnotationResult], count: int) -> list[AnnotationResult]:
    if len(results) != count:
        error = AnnotationError(
            ErrorCode.INFERENCE_FAILED, f"back-end returned {len(results)} results for {count} images"
        )
        return _error_results(name, count, error)
    return results


class _Run:
    """One `annotate()` call: shared progress accounting and cancellation."""

    def __init__(
        self,
        total: int,
        progress: ProgressCallback | None,
        cancel: threading.Event | None,
        on_result: ResultCallback | None = None,
    ) -> None:
        self.total = total
        self.done = 0
        self.progress = progress
        self.cancel = cancel
        self.on_result = on_result

    def hand_over(self, name: str, keys: Sequence[str], results: Sequence[AnnotationResult], skip: set[int]) -> None:
        """Give each result not handed over yet (index not in `skip`) to `on_result`."""
        if self.on_result is None:
            return
        for index, (key, result) in enumerate(zip(keys, results, strict=True)):
            if index not in skip:
                self._deliver(key, name, result)

    def _deliver(self, key: str, name: str, result: AnnotationResult) -> None:
        assert self.on_result is not None
        try:
            self.on_result(key, name, result)
        except Exception:  # a broken callback must not lose the results (they are also returned)
            logger.exception("on_result callback failed")

    def streaming(self, name: str, keys: Sequence[str], streamed: set[int]) -> Callable[[int, AnnotationResult], None]:
        """The per-chunk callback a streaming back-end calls with (index in chunk, result)."""

        def inner(index: int, result: AnnotationResult) -> None:
            streamed.add(index)
            if self.on_result is not None:
                self._deliver(keys[index], name, result)

        return inner

    @property
    def cancelled(self) -> bool:
        return self.cancel is not None and self.cancel.is_set()

    def report(self, count: int, message: str) -> None:
        self.done += count
        self._emit(self.done, message)

    def _emit(self, done: int, message: str) -> None:
        if self.progress is not None:
            try:
                self.progress(min(done, self.total), self.total, message)
            except Exception:  # a broken progress callback must not lose results
                logger.exception("progress callback failed")

    def chunk_progress(self, base: int) -> ProgressCallback:
        """A callback for a back-end's in-chunk progress, offset to the whole run's count."""

        def inner(done: int, _total: int, message: str) -> None:
            self._emit(base + done, message)

        return inner


def _run_plain(
    annotator: BaseAnnotator, images: Sequence[Image.Image], phashes: Sequence[str], run: _Run
) -> list[AnnotationResult]:
    spec = annotator.spec
    results: list[AnnotationResult] = []
    for start in range(0, len(images), spec.batch_size):
        chunk, keys = images[start : start + spec.batch_size], phashes[start : start + spec.batch_size]
        if run.cancelled:
            out = _error_results(spec.name, len(chunk), AnnotationError(ErrorCode.CANCELLED, "cancelled"))
            run.hand_over(spec.name, keys, out, set())
            results += out
            continue
        streamed: set[int] = set()
        try:
            if annotator.streams_results:
                out = annotator.annotate_batch(  # type: ignore[call-arg]
                    chunk,
                    keys,
                    progress=run.chunk_progress(run.done),
                    cancel=run.cancel,
                    on_result=run.streaming(spec.name, keys, streamed),
                )
            else:
                out = annotator.annotate_batch(chunk, keys, progress=run.chunk_progress(run.done), cancel=run.cancel)
            out = _check_results(spec.name, out, len(chunk))
        except Exception as exc:
            logger.warning("model %s failed on a chunk: %s", spec.name, exc)
            out = _error_results(spec.name, len(chunk), error_from_exception(exc), spec.framework)
        run.hand_over(spec.name, keys, out, streamed)
        results += out
        run.report(len(chunk), spec.name)
    return results


def _run_pipelined(
    annotator: PipelinedAnnotator, images: Sequence[Image.Image], phashes: Sequence[str], run: _Run
) -> list[AnnotationResult]:
    spec = annotator.spec
    starts = list(range(0, len(images), spec.batch_size))
    results: list[AnnotationResult] = []
    # One worker: chunk k+1 is preprocessed while chunk k runs in onnxruntime (which releases the GIL).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"prep-{spec.name}") as pool:
        pending: Future[PreparedBatch] | None = pool.submit(annotator.prepare, images[0 : spec.batch_size])
        for index, start in enumerate(starts):
            stop = start + spec.batch_size
            chunk_len = len(images[start:stop])
            assert pending is not None
            current, pending = pending, None
            if index + 1 < len(starts) and not run.cancelled:
                nxt = starts[index + 1]
                pending = pool.submit(annotator.prepare, images[nxt : nxt + spec.batch_size])
            if run.cancelled:
                current.cancel()
                error = AnnotationError(ErrorCode.CANCELLED, "cancelled")
                rest = _error_results(spec.name, len(images) - start, error)
                run.hand_over(spec.name, phashes[start:], rest, set())
                results += rest
                run.report(len(images) - start, spec.name)
                break
            try:
                out = annotator.run_prepared(current.result(), phashes[start:stop])
                out = _check_results(spec.name, out, chunk_len)
            except Exception as exc:
                logger.warning("model %s failed on a chunk: %s", spec.name, exc)
                out = _error_results(spec.name, chunk_len, error_from_exception(exc), spec.framework)
            run.hand_over(spec.name, phashes[start:stop], out, set())
            results += out
            run.report(chunk_len, spec.name)
    return results


_model_locks: dict[str, threading.Lock] = {}
_model_locks_guard = threading.Lock()


def _model_lock(name: str) -> threading.Lock:
    """One lock per model name: back-ends are not thread-safe, and two threads may call annotate() at once."""
    with _model_locks_guard:
        return _model_locks.setdefault(name, threading.Lock())


def _annotate_one_model(
    name: str, images: Sequence[Image.Image], phashes: Sequence[str], api_keys: dict[str, str] | None, run: _Run
) -> list[AnnotationResult]:
    registry = get_registry()
    # The lock covers loading too: getting this model with other keys evicts and unloads the cached instance,
    # which closes the client a run in another thread is still sending with.
    with _model_lock(name):
        try:
            spec: ModelSpec = registry.get(name)
            annotator = get_model_cache().get(spec, api_keys)
        except Exception as exc:  # not found, missing files, needs extra/key, load failed: same error per image
            logger.warning("model %s unavailable: %s", name, exc)
            framework = registry.get(name).framework if name in registry else ""
            run.report(len(images), name)
            failed = _error_results(name, len(images), error_from_exception(exc), framework)
            run.hand_over(name, phashes, failed, set())
            return failed
        if isinstance(annotator, PipelinedAnnotator):
            return _run_pipelined(annotator, images, phashes, run)
        return _run_plain(annotator, images, phashes, run)


def annotate(
    images: list[Image.Image],
    model_names: list[str],
    phash_list: list[str] | None = None,
    *,
    api_keys: dict[str, str] | None = None,
    progress: ProgressCallback | None = None,
    cancel: threading.Event | None = None,
    on_result: ResultCallback | None = None,
) -> PHashAnnotationResults:
    """Run every model on every image; results keyed by pHash, then by model name.

    Never raises for a model or image failure: each result either has data or a typed `error`. Models run one
    after another, each over all images in chunks of its `batch_size`; a loaded model stays in the LRU cache for
    the next call. Identical images (same pHash) share one entry.

    Args:
        images: PIL images (any mode; EXIF orientation is honoured by local models).
        model_names: registry names (see `list_available_models()`).
        phash_list: one key per image; computed (imagehash-compatible pHash) when None.
        api_keys: provider -> key for cloud models ("openai", "anthropic", "google", ...).
        progress: called as progress(done, total, message) with total = images x models.
        cancel: set it to stop; unfinished images get a CANCELLED error result.
        on_result: called as on_result(key, model_name, result) for every result exactly once, as soon as it is
            final: a cloud answer the moment it arrives (from the library's network thread), local results
            after each chunk of `batch_size` images. Store paid answers here and an interrupted run loses none.
            The returned dict holds the same results.

    Raises:
        ValueError: `phash_list` has a different length than `images`.
        RegistryError: a model configuration file (bundled, IMAGE_ANNOTATOR_CONFIG or registered) is invalid;
            the message names the file and field. This is a setup error, not a per-image one.
    """
    if phash_list is not None and len(phash_list) != len(images):
        raise ValueError(f"phash_list has {len(phash_list)} entries for {len(images)} images")
    if not images:
        return {}
    keys = list(phash_list) if phash_list is not None else [phash(image) for image in images]
    results: PHashAnnotationResults = {key: {} for key in keys}
    run = _Run(len(images) * len(model_names), progress, cancel, on_result)
    for name in dict.fromkeys(model_names):  # each model once, in the given order
        started = time.perf_counter()
        if run.cancelled:
            model_results = _error_results(name, len(images), AnnotationError(ErrorCode.CANCELLED, "cancelled"))
            run.hand_over(name, keys, model_results, set())
        else:
            model_results = _annotate_one_model(name, images, keys, api_keys, run)
        logger.info("model %s: %d images in %.2fs", name, len(images), time.perf_counter() - started)
        for key, result in zip(keys, model_results, strict=True):
            results[key][name] = result
    return results


def embed_text(model_name: str, texts: Sequence[str]) -> Any:
    """Text embeddings (float32 [len(texts), D], L2-normalised) from an embedding model's text tower.

    The rows compare by dot product with the `embedding` of that model's image results.

    Raises:
        ModelNotFoundError: unknown model. AnnotatorLoadError (MissingFilesError, ...): the model has no text
        tower (only embedding models of framework clip-onnx do) or its files cannot be loaded.
    """
    from image_annotator_lib.core.errors import AnnotatorLoadError

    spec = get_registry().get(model_name)
    with _model_lock(model_name):
        annotator = get_model_cache().get(spec)
        encode = getattr(annotator, "embed_text", None)
        if encode is None:
            raise AnnotatorLoadError(f"model {model_name!r} has no text tower (framework {spec.framework})")
        return encode(list(texts))


def model_status(spec: ModelSpec, api_keys: dict[str, str] | None = None) -> ModelStatus:
    """Status of one model, asking its back-end class; a back-end that cannot be imported is reported, not raised."""
    try:
        return backend_class(spec.framework).status(spec, api_keys)
    except Exception as exc:
        return ModelStatus(
            name=spec.name,
            kind=spec.kind,
            framework=spec.framework,
            installed=False,
            available=False,
            needs=(f"back-end: {exc}",),
            device="cloud" if spec.provider else "cpu",
            provider=spec.provider,
        )


def list_available_models(api_keys: dict[str, str] | None = None) -> list[ModelStatus]:
    """Every registered model with whether it is installed/available, what it needs, and its device."""
    return [model_status(spec, api_keys) for spec in get_registry().specs()]


def download_model(name: str) -> dict[str, str]:
    """Fetch a model's files into the Hugging Face cache (or check its local folder); returns name -> path.

    Raises:
        ModelNotFoundError, MissingFilesError: with a message naming the model / file.
    """
    spec = get_registry().get(name)
    files = {file: str(path) for file, path in download_model_files(spec).items()}
    if spec.source.local_dir:  # nothing to download: say what the folder still lacks (an entry may list nothing)
        try:
            required = backend_class(spec.framework).required_files(spec)
        except Exception:  # a back-end that cannot be imported: its own status says so
            required = ()
        missing = missing_files(spec, required)
        if missing:
            raise MissingFilesError(
                f"model {spec.name!r}: local folder {spec.source.local_dir} has no {', '.join(missing)}"
            )
        files.update({f: str(Path(spec.source.local_dir) / f) for f in required})
    return files
