"""Requests-per-minute limiting shared by every model of one provider endpoint.

Two rules together: a token bucket (refill rpm/60 per second, capacity `burst`) spreads requests out, because
providers enforce per-minute limits in shorter slices; a sliding log makes "never more than rpm requests in
any 60 s" a hard guarantee (a bucket alone allows rpm + burst), with a small guard for network jitter. State
is guarded by a threading lock and waiting is `asyncio.sleep`, so one limiter serves any event loop and thread
(the shared cloud loop, or a caller's own loop through `annotate_batch_async`).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable

WINDOW_S = 60.0
# The log keeps each send for 60 s plus this guard: the provider counts arrivals, and a request can take a
# while between our send and its arrival (TLS, a busy CPU), which would otherwise let the window's two ends
# land closer together at the provider than they were here. Measured on the loopback benchmark under load:
# without the guard 158 of 150 allowed requests arrived within 60 s; with it, never more than the limit.
GUARD_S = 2.0
_MIN_WAIT_S = 0.001  # never ask for a wait shorter than this: the clock must visibly move between tries


class RateLimiter:
    """At most `requests_per_minute` acquisitions in any 60 s window, at most `burst` back to back."""

    def __init__(
        self,
        requests_per_minute: int,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if requests_per_minute < 1:
            raise ValueError(f"requests_per_minute must be >= 1, got {requests_per_minute}")
        self.requests_per_minute = requests_per_minute
        self.burst = max(1, min(burst or requests_per_minute, requests_per_minute))
        self._rate = requests_per_minute / WINDOW_S  # tokens per second
        self._tokens = float(self.burst)
        self._clock = clock
        self._last = clock()
        self._log: deque[float] = deque()
        self._lock = threading.Lock()

    def try_acquire(self) -> float:
        """Take a slot now and return 0.0, or return how many seconds to wait before asking again."""
        with self._lock:
            now = self._clock()
            self._tokens = min(float(self.burst), self._tokens + (now - self._last) * self._rate)
            self._last = now
            while self._log and self._log[0] <= now - (WINDOW_S + GUARD_S):
                self._log.popleft()
            window_wait = 0.0
            if len(self._log) >= self.requests_per_minute:
                window_wait = self._log[0] + WINDOW_S + GUARD_S - now
            # The tolerance absorbs float rounding of the refill, which could otherwise ask for endless tiny waits.
            bucket_wait = 0.0 if self._tokens >= 1.0 - 1e-9 else (1.0 - self._tokens) / self._rate
            wait = max(window_wait, bucket_wait)
            if wait > 0:
                return max(wait, _MIN_WAIT_S)
            self._tokens = max(0.0, self._tokens - 1.0)
            self._log.append(now)
            return 0.0

    async def acquire(self) -> None:
        """Wait (without blocking the loop) until a request may be sent."""
        while True:
            wait = self.try_acquire()
            if wait <= 0:
                return
            await asyncio.sleep(wait)


_limiters: dict[tuple[object, ...], RateLimiter] = {}
_limiters_lock = threading.Lock()


def shared_limiter(key: tuple[object, ...], requests_per_minute: int | None, burst: int | None) -> RateLimiter | None:
    """The process-wide limiter for `key` (None when the provider has no limit configured)."""
    if not requests_per_minute:
        return None
    with _limiters_lock:
        limiter = _limiters.get(key)
        if limiter is None:
            limiter = RateLimiter(requests_per_minute, burst=burst)
            _limiters[key] = limiter
        return limiter
