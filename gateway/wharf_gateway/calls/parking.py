"""Calls past what a pool's queue holds in memory wait in the store ("parked") and are paged in,
in order of arrival, as the queue drains. Calls park by lane: a pool's calls of one method
(a class's methods share their pool's containers).

A million pending calls are so a million rows on disk, not a million tasks in memory; and after
a restart the calls left unfinished are paged in the same way, in the background, while the
gateway serves. A pool parks its calls once its queue holds `MEMORY_QUEUE`, and from then on
every new call of the pool parks too (so calls run in order of arrival) until a page finds no
parked call left. Rowids order the rows by arrival (one writer commits inserts in order), so a
pool pages in the unfinished rows after its cursor: the rowid before its first parked call, or
0 after a restart, when every unfinished call is parked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from wharf_gateway.models import FunctionRecord
from wharf_gateway.scheduling.scheduler import Scheduler
from wharf_gateway.scheduling.variants import Variant
from wharf_gateway.storage.calls import UnfinishedCall
from wharf_gateway.storage.store import Store

logger = logging.getLogger(__name__)

#: Calls of one pool held in memory, waiting for a container; the rest wait in the store.
MEMORY_QUEUE = 2_000
#: Calls read from the store at a time.
PAGE = 500

#: Turns paged-in rows into queued tasks (the call service): `(function, variant, rows)`.
TakeRows = Callable[[FunctionRecord, Variant, list[UnfinishedCall]], Awaitable[None]]


#: A lane of parked calls: its function, and its variant as stored (method included).
_Lane = tuple[str, bytes | None]


def _lane(function_id: str, variant: Variant) -> _Lane:
    return function_id, variant.to_json()


@dataclass(slots=True, eq=False)
class _Parked:
    """The parked calls of one pool."""

    function: FunctionRecord
    variant: Variant
    #: Calls in the store not paged in yet (what the backlog limit and the stats count).
    count: int = 0
    #: Parked inserts not committed yet: the parking ends only once none is on its way.
    uncommitted: int = 0
    #: Rows up to this rowid are not (or no longer) parked; None until the first parked
    #: insert is committed.
    cursor: int | None = None
    paging: bool = False
    #: Parked calls cancelled before they were paged in: never queued.
    cancelled: set[str] = field(default_factory=set)

    @property
    def key(self) -> _Lane:
        return _lane(self.function.function_id, self.variant)


class Parking:
    """The parked calls of every pool, and the paging that brings them to the queues."""

    def __init__(
        self, store: Store, scheduler: Scheduler, take: TakeRows, behind: Callable[[], bool]
    ) -> None:
        self._store = store
        self._scheduler = scheduler
        self._take = take
        #: Whether outcomes wait to be stored: paging waits too, so that memory stays bounded
        #: when inputs finish faster than their outcomes are committed.
        self._behind = behind
        self._pools: dict[_Lane, _Parked] = {}
        self._paging: set[asyncio.Task[None]] = set()
        scheduler.count_parked(self.count)

    def count(self, function_id: str) -> int:
        """The calls of a function waiting in the store."""
        return sum(p.count for p in self._pools.values() if p.function.function_id == function_id)

    def should_park(self, function: FunctionRecord, variant: Variant) -> bool:
        """Whether a new call of this pool waits in the store (its queue is full, or calls
        before it wait there)."""
        lane = _lane(function.function_id, variant)
        return lane in self._pools or self._scheduler.queued(function, variant) >= MEMORY_QUEUE

    def park(
        self, function: FunctionRecord, variant: Variant, committed: asyncio.Future[int]
    ) -> None:
        """A call of this pool is parked; `committed` resolves with its rowid."""
        parked = self._pool(function, variant)
        parked.count += 1
        parked.uncommitted += 1

        def stored(done: asyncio.Future[int]) -> None:
            parked.uncommitted -= 1
            if done.cancelled() or done.exception() is not None:
                parked.count -= 1  # never accepted: its caller got the error
            elif parked.cursor is None:
                parked.cursor = done.result() - 1  # the pool's first parked call
            self.page_in(parked.key)

        committed.add_done_callback(stored)

    def _pool(self, function: FunctionRecord, variant: Variant) -> _Parked:
        lane = _lane(function.function_id, variant)
        parked = self._pools.get(lane)
        if parked is None:
            parked = self._pools[lane] = _Parked(function, variant)
        return parked

    def recovered(self, function: FunctionRecord, variant: Variant, count: int) -> None:
        """After a restart: `count` calls of this pool were left unfinished; all are parked."""
        parked = self._pool(function, variant)
        parked.count += count
        parked.cursor = 0
        self.page_in(parked.key)

    def cancelled(self, function_id: str, variant: Variant, call_id: str) -> None:
        """A parked call was cancelled in the store: it is no longer counted, nor queued
        should a page read it before the cancel was committed."""
        parked = self._pools.get(_lane(function_id, variant))
        if parked is not None:
            parked.count = max(parked.count - 1, 0)
            parked.cancelled.add(call_id)

    def page_in_all(self) -> None:
        """Page in wherever a queue has room (the sweep's call, besides each finished input's)."""
        for key in list(self._pools):
            self.page_in(key)

    def page_in(self, key: _Lane) -> None:
        """Read the next parked calls of a pool into its queue, if it has room for a page."""
        parked = self._pools.get(key)
        if parked is None or parked.paging or parked.cursor is None or self._behind():
            return
        room = MEMORY_QUEUE - self._scheduler.queued(parked.function, parked.variant)
        if room < PAGE:
            return
        parked.paging = True
        task = asyncio.create_task(self._page(parked, parked.cursor, room))
        self._paging.add(task)
        task.add_done_callback(self._paging.discard)

    async def _page(self, parked: _Parked, cursor: int, room: int) -> None:
        more = False
        try:
            found = await self._store.unfinished_after(
                parked.function.function_id, parked.variant.to_json(), cursor, min(room, PAGE)
            )
            if found:
                rows = [row for _, row in found if row.record.call_id not in parked.cancelled]
                # Should taking them fail half-way, the page is read again (the call service
                # passes by those it holds already).
                await self._take(parked.function, parked.variant, rows)
                parked.cursor = found[-1][0]
                parked.count = max(parked.count - len(rows), 0)
                more = True
            elif parked.uncommitted == 0:
                del self._pools[parked.key]  # nothing parked is left: new calls queue again
        except Exception:
            logger.exception("paging in the calls of %s failed", parked.function.name)
        finally:
            parked.paging = False
        if more:
            self.page_in(parked.key)

    async def close(self) -> None:
        for task in list(self._paging):
            task.cancel()
        await asyncio.gather(*self._paging, return_exceptions=True)
