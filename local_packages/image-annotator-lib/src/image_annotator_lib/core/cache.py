"""Loaded back-ends kept between `annotate()` calls, evicted least-recently-used when memory runs short.

Before a model is loaded, the cache frees older models until the system's available memory (psutil) minus the
new model's estimate stays above `reserve_mb`. A model is also evicted when its spec changed (registry reload)
or a different set of API keys is passed. Thread-safety: one lock guards the table; loading happens under it so
two threads never load the same model twice.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

import psutil

from image_annotator_lib.core.base import BaseAnnotator
from image_annotator_lib.core.registry import backend_class
from image_annotator_lib.core.types import ModelSpec

logger = logging.getLogger(__name__)


def _keys_digest(api_keys: dict[str, str] | None) -> str:
    """A digest of the keys (never the keys themselves) so a changed key reloads a cloud client."""
    h = hashlib.sha256()
    for name, value in sorted((api_keys or {}).items()):
        h.update(f"{name}\0{value}\0".encode())
    return h.hexdigest()


@dataclass
class _Entry:
    annotator: BaseAnnotator
    spec: ModelSpec
    keys: str


class ModelCache:
    """LRU cache of loaded annotators keyed by model name."""

    def __init__(self, *, reserve_mb: float = 1024.0, max_models: int = 8) -> None:
        self.reserve_mb = reserve_mb
        self.max_models = max_models
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.RLock()

    def get(self, spec: ModelSpec, api_keys: dict[str, str] | None = None) -> BaseAnnotator:
        """The loaded annotator for `spec`, loading (and evicting others) if needed.

        Raises:
            Whatever the back-end's import or `load()` raises (typed errors carry an ErrorCode).
        """
        digest = _keys_digest(api_keys)
        with self._lock:
            entry = self._entries.get(spec.name)
            if entry is not None and entry.spec == spec and entry.keys == digest:
                self._entries.move_to_end(spec.name)
                return entry.annotator
            if entry is not None:
                self._evict(spec.name)
            cls = backend_class(spec.framework)
            self._make_room(cls.estimate_load_mb(spec))
            annotator = cls(spec, api_keys=api_keys)
            annotator.load()
            self._entries[spec.name] = _Entry(annotator, spec, digest)
            return annotator

    def _make_room(self, needed_mb: float) -> None:
        while self._entries:
            available_mb = psutil.virtual_memory().available / 2**20
            if len(self._entries) < self.max_models and available_mb - needed_mb >= self.reserve_mb:
                return
            oldest = next(iter(self._entries))
            logger.info("evicting model %s (available %.0f MiB, need %.0f MiB)", oldest, available_mb, needed_mb)
            self._evict(oldest)

    def _evict(self, name: str) -> None:
        entry = self._entries.pop(name, None)
        if entry is None:
            return
        try:
            entry.annotator.unload()
        except Exception:  # unloading must never take the caller down
            logger.exception("unloading %s failed", name)
        del entry
        gc.collect()

    def evict(self, name: str) -> None:
        """Unload one model (no error if it is not loaded)."""
        with self._lock:
            self._evict(name)

    def clear(self) -> None:
        """Unload every model."""
        with self._lock:
            for name in list(self._entries):
                self._evict(name)

    def loaded(self) -> list[str]:
        """Names of loaded models, least recently used first."""
        with self._lock:
            return list(self._entries)


_default_cache = ModelCache()


def get_model_cache() -> ModelCache:
    """The process-wide cache `annotate()` uses."""
    return _default_cache
