"""Rate limits: token buckets per workspace and budget, per client address for anonymous web
traffic, and per client address for failed authentications.

A bucket holds `rate_per_s * burst_s` tokens and refills at `rate_per_s`. Each workspace has one
bucket per `Budget`, so anonymous callers of its public endpoints can never spend what its own
API calls need. Buckets live in memory, per gateway process; idle ones are dropped (a full
bucket is the same as none), so memory stays bounded whatever the number of clients.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wharf_gateway.errors import RateLimited

logger = logging.getLogger(__name__)

#: Client-address buckets kept at most; past it the idle ones go first, then the oldest.
MAX_CLIENT_BUCKETS = 100_000
#: Failed authentications one address may make at once before it is throttled.
AUTH_FAILURE_BURST = 10


class Budget(StrEnum):
    """Which of its workspace's buckets a request draws from."""

    #: Requests to the API with a token of the workspace.
    API = "api"
    #: Requests to the workspace's endpoints that carry its token (`requires_proxy_auth`).
    WEB = "web"
    #: Requests to its public endpoints (also limited per client address).
    ANONYMOUS_WEB = "anonymous_web"


#: How a refusal names the budget that ran out.
_FOR = {
    Budget.API: "",
    Budget.WEB: " for requests to its endpoints",
    Budget.ANONYMOUS_WEB: " for anonymous requests to its endpoints",
}


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated_s: float
    rate_per_s: float
    capacity: float

    def refill(self, now_s: float) -> None:
        elapsed_s = now_s - self.updated_s
        self.tokens = min(self.capacity, self.tokens + elapsed_s * self.rate_per_s)
        self.updated_s = now_s

    def wait_s(self) -> int:
        return max(1, math.ceil((1 - self.tokens) / self.rate_per_s))


class _Buckets:
    """Buckets by key, made full on first use and dropped once full again."""

    def __init__(self, max_buckets: int) -> None:
        self._buckets: dict[Hashable, _Bucket] = {}
        self._max_buckets = max_buckets

    def get(self, key: Hashable, rate_per_s: float, capacity: float, now_s: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_buckets:
                self.sweep(now_s, make_room=True)
            bucket = self._buckets[key] = _Bucket(capacity, now_s, rate_per_s, capacity)
        bucket.rate_per_s, bucket.capacity = rate_per_s, capacity
        bucket.refill(now_s)
        return bucket

    def sweep(self, now_s: float, *, make_room: bool = False) -> None:
        """Drop the buckets that are full again; with `make_room`, also the least recently
        used half if that was not enough."""
        for key, bucket in list(self._buckets.items()):
            bucket.refill(now_s)
            if bucket.tokens >= bucket.capacity:
                del self._buckets[key]
        if make_room and len(self._buckets) >= self._max_buckets:
            oldest = sorted(self._buckets, key=lambda key: self._buckets[key].updated_s)
            for key in oldest[: len(oldest) // 2]:
                del self._buckets[key]

    def __len__(self) -> int:
        return len(self._buckets)


def _limited(bucket: _Bucket, what: str) -> RateLimited:
    wait_s = bucket.wait_s()
    return RateLimited(
        wait_s,
        {
            "ratelimit-limit": str(int(bucket.capacity)),
            "ratelimit-remaining": "0",
            "ratelimit-reset": str(wait_s),
        },
        what,
    )


class RateLimiter:
    """The workspaces' buckets (one per `Budget`) and the anonymous clients' buckets.

    Workspaces without limits of their own get the defaults; `configure` sets the others.
    """

    def __init__(
        self, rate_per_s: float, burst_s: float, client_rate_per_s: float | None = None
    ) -> None:
        self._default = (rate_per_s, burst_s)
        self._client_rate_per_s = client_rate_per_s or rate_per_s / 4
        self._burst_s = burst_s
        self._limits: dict[str, tuple[float, float]] = {}
        self._workspaces = _Buckets(MAX_CLIENT_BUCKETS)
        self._clients = _Buckets(MAX_CLIENT_BUCKETS)

    def configure(self, limits: dict[str, tuple[float, float]]) -> None:
        """The workspaces with limits of their own: `{workspace_id: (rate_per_s, burst_s)}`."""
        self._limits = dict(limits)

    def take(
        self, workspace_id: str, budget: Budget = Budget.API, now_s: float | None = None
    ) -> None:
        """Spend one token of the workspace's `budget`.

        Raises:
            RateLimited: the bucket is empty; carries `Retry-After` and `RateLimit-*` headers.
        """
        now_s = time.monotonic() if now_s is None else now_s
        rate_per_s, burst_s = self._limits.get(workspace_id, self._default)
        bucket = self._workspaces.get(
            (workspace_id, budget), rate_per_s, rate_per_s * burst_s, now_s
        )
        if bucket.tokens < 1:
            raise _limited(bucket, f"the workspace is over its rate limit{_FOR[budget]}")
        bucket.tokens -= 1

    def take_client(self, address: str, now_s: float | None = None) -> None:
        """Spend one token of an anonymous client address (checked before its workspace's).

        Raises:
            RateLimited: this address is over its rate limit.
        """
        now_s = time.monotonic() if now_s is None else now_s
        capacity = self._client_rate_per_s * self._burst_s
        bucket = self._clients.get(address, self._client_rate_per_s, capacity, now_s)
        if bucket.tokens < 1:
            raise _limited(bucket, "this client address is over its rate limit")
        bucket.tokens -= 1

    def sweep(self, now_s: float | None = None) -> None:
        """Forget idle buckets (those full again)."""
        now_s = time.monotonic() if now_s is None else now_s
        self._workspaces.sweep(now_s)
        self._clients.sweep(now_s)

    @property
    def client_buckets(self) -> int:
        return len(self._clients)


class FailureThrottle:
    """Failed authentications per client address: past a burst of them, the address gets 429
    before any secret is checked, until its bucket refills."""

    def __init__(self, failures_per_s: float, burst: int = AUTH_FAILURE_BURST) -> None:
        self._rate_per_s = failures_per_s
        self._capacity = float(burst)
        self._buckets = _Buckets(MAX_CLIENT_BUCKETS)
        #: Addresses throttled and logged since they last recovered in full: each window of
        #: throttling logs one line, whatever the number of refused attempts.
        self._logged: set[str] = set()

    def admit(self, address: str, now_s: float | None = None) -> None:
        """Let an authentication attempt from `address` proceed.

        Raises:
            RateLimited: the address failed too often lately.
        """
        now_s = time.monotonic() if now_s is None else now_s
        bucket = self._buckets.get(address, self._rate_per_s, self._capacity, now_s)
        if bucket.tokens >= self._capacity:
            self._logged.discard(address)  # recovered: a new window of throttling logs again
        if bucket.tokens >= 1:
            return
        if address not in self._logged:
            self._logged.add(address)
            logger.warning("throttling %s: too many failed authentications", address)
        raise _limited(bucket, "too many failed authentications from this address")

    def failed(self, address: str, now_s: float | None = None) -> None:
        """Count a failed authentication from `address`."""
        now_s = time.monotonic() if now_s is None else now_s
        bucket = self._buckets.get(address, self._rate_per_s, self._capacity, now_s)
        bucket.tokens = max(0.0, bucket.tokens - 1)

    def sweep(self, now_s: float | None = None) -> None:
        self._buckets.sweep(time.monotonic() if now_s is None else now_s)
        if len(self._logged) > MAX_CLIENT_BUCKETS:
            self._logged.clear()


def client_address(scope: Mapping[str, Any], trust_forwarded: bool) -> str:
    """The caller's address: the peer, or with `trust_forwarded` the address the operator's own
    proxy appended last to `X-Forwarded-For` (entries before it are the caller's to invent)."""
    if trust_forwarded:
        for name, value in scope.get("headers", ()):
            if name == b"x-forwarded-for":
                last = str(value.decode("latin-1")).rsplit(",", 1)[-1].strip()
                if last:
                    return last
    client = scope.get("client")
    return str(client[0]) if client else "unknown"
