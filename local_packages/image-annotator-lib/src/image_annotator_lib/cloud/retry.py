"""Our retry policy (the SDKs' own retries are switched off so this is the one that runs).

429: wait at least Retry-After (seconds or an HTTP date), else jittered exponential backoff. 5xx, timeouts and
connection failures: jittered exponential backoff. Everything else is final. `retry_attempts` counts retries
after the first attempt.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from image_annotator_lib.cloud.errors import CloudError, RateLimitError, is_retryable

logger = logging.getLogger(__name__)
T = TypeVar("T")


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header value (delta-seconds or HTTP date); None if absent/invalid."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry. `jitter` draws each delay from [delay * (1 - jitter), delay]."""

    retry_attempts: int = 3
    backoff_base: float = 1.0
    backoff_max: float = 60.0
    retry_after_max: float = 300.0
    jitter: float = 0.5

    def backoff(self, retry_index: int) -> float:
        """Delay before retry number `retry_index` (0-based) without a Retry-After hint."""
        delay = min(self.backoff_max, self.backoff_base * (2**retry_index))
        return delay * (1.0 - self.jitter * random.random())

    def delay_for(self, error: CloudError, retry_index: int) -> float | None:
        """Seconds to wait before retrying after `error`, or None when it must not be retried."""
        if retry_index >= self.retry_attempts or not is_retryable(error):
            return None
        delay = self.backoff(retry_index)
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            if error.retry_after > self.retry_after_max:
                return None  # the provider asks for a longer pause than the user allows: report it instead
            # Honour the hint, plus a little jitter so concurrent workers do not all return in the same instant.
            delay = error.retry_after + random.random() * min(1.0, self.backoff_base)
        return delay


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[CloudError, int, float], None] | None = None,
) -> T:
    """Run `attempt` until it succeeds or `policy` gives up; the last CloudError is re-raised."""
    retry_index = 0
    while True:
        try:
            return await attempt()
        except CloudError as error:
            delay = policy.delay_for(error, retry_index)
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(error, retry_index, delay)
            logger.debug("retry %d after %s in %.2fs", retry_index + 1, type(error).__name__, delay)
            await asyncio.sleep(delay)
            retry_index += 1
