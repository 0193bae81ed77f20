"""Web leases: a web request's hold on one slot of a container of its function.

A lease waits in its pool's queue like an input, but it carries no payload and is no call: the
proxy gets the container's address, relays the request itself, then gives the slot back.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from wharf_runner import ContainerAddress

from wharf_gateway.errors import WebUnavailable
from wharf_gateway.models import FunctionRecord
from wharf_gateway.scheduling.tasks import Failure
from wharf_gateway.scheduling.variants import Variant


@dataclass(slots=True, eq=False)
class WebLease:
    """One web request's claim on a container slot, from queued to given back."""

    #: `wr-...`: names the lease in logs and in the container's running set.
    lease_id: str
    function: FunctionRecord
    variant: Variant
    #: Resolves with the container's address once the lease holds a slot.
    container: asyncio.Future[ContainerAddress] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    #: The container holding it, once it holds one.
    container_id: str | None = None
    #: Fires when the request outlives the function's timeout.
    timer: asyncio.TimerHandle | None = None
    #: Given back (or abandoned while queued): the dispatcher skips it, `release` is a no-op.
    finished: bool = False
    #: The function's timeout ended it (and stopped its container).
    timed_out: bool = False

    #: A lease takes a slot of its own, never part of a batch.
    runs_alone = True
    payload = b""

    @property
    def pool_key(self) -> str:
        return self.function.function_id + self.variant.pool_suffix

    def fail(self, failure: Failure) -> None:
        """No container will come: the waiting request gets `WebUnavailable` (a lease that
        holds one already is ended by its container's stop)."""
        if not self.container.done():
            self.finished = True
            self.container.set_exception(WebUnavailable(failure.code, failure.message))
