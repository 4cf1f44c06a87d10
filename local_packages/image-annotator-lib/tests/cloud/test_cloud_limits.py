"""The requests-per-minute limiter and the retry policy, on a fake clock (no sleeping)."""

from __future__ import annotations

import email.utils
import time

import pytest
from image_annotator_lib.cloud.errors import (
    AuthenticationError,
    MalformedResponseError,
    PolicyViolationError,
    ProviderError,
    RateLimitError,
    RequestTimeoutError,
)
from image_annotator_lib.cloud.limits import RateLimiter
from image_annotator_lib.cloud.retry import RetryPolicy, parse_retry_after
from image_annotator_lib.testing.fake_providers import max_in_window


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drive(limiter: RateLimiter, clock: FakeClock, n: int) -> list[float]:
    """Acquire `n` slots, advancing the fake clock by each wait; returns the send times."""
    sent: list[float] = []
    while len(sent) < n:
        wait = limiter.try_acquire()
        if wait > 0:
            clock.now += wait
        else:
            sent.append(clock.now)
    return sent


@pytest.mark.parametrize(("rpm", "burst"), [(10, 1), (10, 10), (60, 8), (150, 8)])
def test_never_more_than_rpm_in_any_minute(rpm, burst):
    clock = FakeClock()
    sent = drive(RateLimiter(rpm, burst=burst, clock=clock), clock, rpm * 3 + 7)
    assert max_in_window(sent, 60.0) <= rpm
    # Token bucket: any 10 s window holds at most burst + rate * 10 (+1 for the boundary), so requests spread out.
    assert max_in_window(sent, 10.0) <= burst + rpm / 6 + 1


def test_burst_goes_out_at_once_then_paces():
    clock = FakeClock()
    sent = drive(RateLimiter(60, burst=4, clock=clock), clock, 6)
    assert sent[:4] == [1000.0] * 4
    assert sent[4] == pytest.approx(1001.0) and sent[5] == pytest.approx(1002.0)


def test_limiter_rejects_nonsense():
    with pytest.raises(ValueError, match="requests_per_minute"):
        RateLimiter(0)


def test_retry_after_seconds_and_http_date():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("0.5") == 0.5
    now = time.time()
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(30, abs=1.0)
    assert parse_retry_after(email.utils.formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_policy_retries_only_transient_errors():
    policy = RetryPolicy(retry_attempts=2, backoff_base=1.0, backoff_max=10.0)
    assert policy.delay_for(ProviderError("500", status_code=500), 0) is not None
    assert policy.delay_for(RequestTimeoutError("t"), 1) is not None
    assert policy.delay_for(RequestTimeoutError("t"), 2) is None  # attempts used up
    assert policy.delay_for(AuthenticationError("401", status_code=401), 0) is None
    assert policy.delay_for(PolicyViolationError("no"), 0) is None
    assert policy.delay_for(MalformedResponseError("bad"), 0) is None
    assert policy.delay_for(ProviderError("400", status_code=400), 0) is None


def test_backoff_is_exponential_jittered_and_capped():
    policy = RetryPolicy(retry_attempts=10, backoff_base=1.0, backoff_max=8.0, jitter=0.5)
    for index, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 8.0)]:
        delays = {policy.backoff(index) for _ in range(50)}
        assert all(ceiling * 0.5 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered


def test_retry_after_is_honoured_but_bounded():
    policy = RetryPolicy(retry_attempts=3, backoff_base=0.01, retry_after_max=60.0)
    delay = policy.delay_for(RateLimitError("429", retry_after=5.0), 0)
    assert delay is not None and 5.0 <= delay <= 5.02
    assert policy.delay_for(RateLimitError("429", retry_after=3600.0), 0) is None  # longer than allowed: report
