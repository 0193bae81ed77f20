"""Per-workspace token buckets: `rate_per_s` sustained, `rate_per_s * burst_s` at once."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from gateway.errors import RateLimited


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_s: float


class RateLimiter:
    """One bucket per workspace, refilled continuously; in memory, per gateway process."""

    def __init__(self, rate_per_s: float, burst_s: float) -> None:
        self._rate_per_s = rate_per_s
        self._capacity = rate_per_s * burst_s
        self._buckets: dict[str, _Bucket] = {}

    def take(self, workspace_id: str, now_s: float | None = None) -> None:
        """Spend one token of the workspace.

        Raises:
            RateLimited: the bucket is empty; carries `Retry-After` and `RateLimit-*` headers.
        """
        now_s = time.monotonic() if now_s is None else now_s
        bucket = self._buckets.get(workspace_id)
        if bucket is None:
            bucket = self._buckets[workspace_id] = _Bucket(self._capacity, now_s)
        elapsed_s = now_s - bucket.updated_s
        bucket.tokens = min(self._capacity, bucket.tokens + elapsed_s * self._rate_per_s)
        bucket.updated_s = now_s
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        wait_s = max(1, math.ceil((1 - bucket.tokens) / self._rate_per_s))
        raise RateLimited(
            wait_s,
            {
                "ratelimit-limit": str(int(self._capacity)),
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(wait_s),
            },
        )
