"""One long-lived asyncio loop in a daemon thread for live cloud requests.

`annotate_batch()` is synchronous and is called once per chunk of images. Running each chunk on a fresh
`asyncio.run()` loop would throw away the SDK client, its TLS context and its keep-alive connections every
time; on the shared loop a client lives as long as its annotator, so connections are reused across chunks.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def _ensure_loop() -> asyncio.AbstractEventLoop:
    global _loop, _thread
    with _lock:
        if _loop is None or _thread is None or not _thread.is_alive():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="image-annotator-cloud-loop", daemon=True)
            thread.start()
            _loop, _thread = loop, thread
        return _loop


def run_on_shared_loop(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` on the shared loop and wait for its result (from any thread except the loop's own)."""
    loop = _ensure_loop()
    if threading.current_thread() is _thread:
        coro.close()
        raise RuntimeError("run_on_shared_loop() called from the shared loop itself; await the coroutine instead")
    return asyncio.run_coroutine_threadsafe(coro, loop).result()
