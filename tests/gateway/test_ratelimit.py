"""Per-workspace token buckets: burst capacity, refill over time, and the 429 they raise."""

from __future__ import annotations

import pytest
from wharf_gateway.errors import RateLimited
from wharf_gateway.security.ratelimit import RateLimiter


def _take_until_refused(limiter: RateLimiter, workspace_id: str, now_s: float) -> int:
    """How many calls the workspace may make at `now_s` before it is refused."""
    taken = 0
    while True:
        try:
            limiter.take(workspace_id, now_s=now_s)
        except RateLimited:
            return taken
        taken += 1


def test_burst_capacity_is_rate_times_burst() -> None:
    limiter = RateLimiter(rate_per_s=10, burst_s=5)

    assert _take_until_refused(limiter, "ws-a", now_s=100.0) == 50


def test_bucket_refills_at_the_rate_over_time() -> None:
    limiter = RateLimiter(rate_per_s=10, burst_s=5)
    _take_until_refused(limiter, "ws-a", now_s=100.0)

    assert _take_until_refused(limiter, "ws-a", now_s=100.5) == 5
    assert _take_until_refused(limiter, "ws-a", now_s=102.5) == 20


def test_refill_never_exceeds_the_capacity() -> None:
    limiter = RateLimiter(rate_per_s=10, burst_s=5)
    limiter.take("ws-a", now_s=0.0)

    assert _take_until_refused(limiter, "ws-a", now_s=3600.0) == 50


def test_refusal_is_a_429_with_retry_after_and_ratelimit_headers() -> None:
    limiter = RateLimiter(rate_per_s=2, burst_s=1)
    _take_until_refused(limiter, "ws-a", now_s=0.0)

    with pytest.raises(RateLimited) as caught:
        limiter.take("ws-a", now_s=0.0)

    error = caught.value
    assert (error.status, error.code) == (429, "rate_limited")
    assert error.headers == {
        "retry-after": "1",
        "ratelimit-limit": "2",
        "ratelimit-remaining": "0",
        "ratelimit-reset": "1",
    }
    assert "retry in 1 s" in error.message


def test_retry_after_covers_the_time_to_the_next_token_in_whole_seconds() -> None:
    limiter = RateLimiter(rate_per_s=0.25, burst_s=4)
    limiter.take("ws-a", now_s=0.0)

    with pytest.raises(RateLimited) as caught:
        limiter.take("ws-a", now_s=1.0)

    headers = caught.value.headers
    assert headers is not None
    assert headers["retry-after"] == "3"


def test_waiting_for_retry_after_is_enough_to_be_served() -> None:
    limiter = RateLimiter(rate_per_s=0.5, burst_s=2)
    limiter.take("ws-a", now_s=0.0)
    with pytest.raises(RateLimited) as caught:
        limiter.take("ws-a", now_s=0.0)
    headers = caught.value.headers
    assert headers is not None

    limiter.take("ws-a", now_s=float(headers["retry-after"]))


def test_workspaces_have_independent_buckets() -> None:
    limiter = RateLimiter(rate_per_s=1, burst_s=3)
    _take_until_refused(limiter, "ws-a", now_s=0.0)

    assert _take_until_refused(limiter, "ws-b", now_s=0.0) == 3
    with pytest.raises(RateLimited):
        limiter.take("ws-a", now_s=0.0)
