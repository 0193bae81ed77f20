"""Per-workspace token buckets: `rate_per_s` sustained, `rate_per_s * burst_s` at once."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from wharf_gateway.errors import RateLimited


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_s: float
    rate_per_s: float
    capacity: float


class RateLimiter:
    """One bucket per workspace, refilled continuously; in memory, per gateway process.

    Workspaces without limits of their own get the defaults; `configure` sets the others.
    """

    def __init__(self, rate_per_s: float, burst_s: float) -> None:
        self._default = (rate_per_s, burst_s)
        self._limits: dict[str, tuple[float, float]] = {}
        self._buckets: dict[str, _Bucket] = {}

    def configure(self, limits: dict[str, tuple[float, float]]) -> None:
        """The workspaces with limits of their own: `{workspace_id: (rate_per_s, burst_s)}`."""
        self._limits = dict(limits)

    def take(self, workspace_id: str, now_s: float | None = None) -> None:
        """Spend one token of the workspace.

        Raises:
            RateLimited: the bucket is empty; carries `Retry-After` and `RateLimit-*` headers.
        """
        now_s = time.monotonic() if now_s is None else now_s
        rate_per_s, burst_s = self._limits.get(workspace_id, self._default)
        capacity = rate_per_s * burst_s
        bucket = self._buckets.get(workspace_id)
        if bucket is None:
            bucket = self._buckets[workspace_id] = _Bucket(capacity, now_s, rate_per_s, capacity)
        bucket.rate_per_s, bucket.capacity = rate_per_s, capacity
        elapsed_s = now_s - bucket.updated_s
        bucket.tokens = min(capacity, bucket.tokens + elapsed_s * rate_per_s)
        bucket.updated_s = now_s
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return
        wait_s = max(1, math.ceil((1 - bucket.tokens) / rate_per_s))
        raise RateLimited(
            wait_s,
            {
                "ratelimit-limit": str(int(capacity)),
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(wait_s),
            },
        )
