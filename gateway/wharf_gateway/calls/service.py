"""The life of a call: accepted (committed), queued, run, finished with exactly one outcome."""

from __future__ import annotations

import asyncio
import logging
import time
from asyncio import FIRST_COMPLETED
from dataclasses import dataclass

from wharf.error_codes import ErrorCode
from wharf_runner import Output, PayloadFormat

from wharf_gateway.calls.outcomes import outcome_of, unowned_blob
from wharf_gateway.calls.parking import Parking
from wharf_gateway.calls.streams import StreamService
from wharf_gateway.calls.waiters import Waiters
from wharf_gateway.errors import NotFound, OutputExpired, StoreError, is_disk_full
from wharf_gateway.ids import new_id
from wharf_gateway.manifest.classes import is_generator_call
from wharf_gateway.models import (
    WEB_PAYLOAD_FORMAT,
    CallOutcome,
    CallRecord,
    CallStatus,
    FunctionRecord,
    WebResponse,
)
from wharf_gateway.scheduling.scheduler import Scheduler
from wharf_gateway.scheduling.tasks import Failure, Task
from wharf_gateway.scheduling.variants import Variant
from wharf_gateway.storage.blobs import BlobStore
from wharf_gateway.storage.calls import NewCall, StoredOutcome, UnfinishedCall
from wharf_gateway.storage.store import Store

logger = logging.getLogger(__name__)

#: Tries at storing an outcome before the call's waiters get it unstored.
PERSIST_ATTEMPTS = 3
PERSIST_RETRY_DELAY_S = 0.5
#: Longest wait between two tries while the disk is full.
MAX_PERSIST_WAIT_S = 5.0
#: Outcomes waiting to be stored past which no parked call is paged in.
MAX_UNSTORED = 5_000


@dataclass(slots=True, eq=False)
class ActiveCall:
    task: Task
    #: Resolves (with the call's rowid) once its insert is committed, before anyone is told
    #: it was accepted.
    committed: asyncio.Future[int]
    #: Resolves with the outcome once it is committed.
    done: asyncio.Future[CallOutcome]


class CallService:
    """Accepts calls, hands them to the scheduler, and keeps their outcomes."""

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        scheduler: Scheduler,
        result_ttl_s: float,
        stream_idle_timeout_s: float = 60.0,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self.scheduler = scheduler
        self._result_ttl_s = result_ttl_s
        self._active: dict[str, ActiveCall] = {}
        self._persisting: set[asyncio.Task[None]] = set()
        #: Resolved when the gateway begins to shut down: waiting callers get their result
        #: URL at once (to read the result from the next gateway) instead of an error.
        self._draining: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.streams = StreamService(stream_idle_timeout_s)
        self.parking = Parking(
            store, scheduler, self._revive, lambda: len(self._persisting) >= MAX_UNSTORED
        )
        self._waiters = Waiters()
        #: Parked calls being cancelled (never queued, should a page read them meanwhile).
        self._unparking: set[str] = set()

    def _schedule(self, task: Task) -> None:
        self.scheduler.submit(task)

    async def submit(
        self,
        workspace_id: str,
        function: FunctionRecord,
        payload_format: PayloadFormat,
        payload: bytes,
        *,
        wants_json: bool,
        wants_pickle: bool,
        parent_call_id: str | None,
        variant: Variant | None = None,
        streamed: bool = False,
        payload_blob: str | None = None,
        blob_bytes: int | None = None,
        idempotency: tuple[str, str] | None = None,
    ) -> ActiveCall:
        """Accept a call: its insert is queued and it is dispatched at once, in parallel.
        Its payload is `payload`, or the workspace's blob `payload_blob` of `blob_bytes`;
        `idempotency` (key, request fingerprint) is recorded in the same commit."""
        variant = variant or Variant()
        self.scheduler.admit(variant.apply(function), variant)
        call_id = new_id("fc")
        if payload_blob is None:
            inline, sha256 = await self._blobs.offload(payload, workspace_id)
            size: int | None = len(payload)
        else:
            inline, sha256, size = None, payload_blob, blob_bytes
        committed = self._store.insert_call(
            NewCall(
                call_id,
                workspace_id,
                function.function_id,
                parent_call_id,
                payload_format.value,
                inline,
                sha256,
                wants_json,
                wants_pickle,
                time.time(),
                variant.to_json() if variant is not None else None,
                payload_bytes=size,
                idempotency=idempotency,
            )
        )
        task = Task(
            call_id,
            workspace_id,
            function,
            payload_format,
            inline or b"",
            wants_json,
            wants_pickle,
            variant=variant or Variant(),
            payload_blob=sha256,
            sink=self,
        )
        active = ActiveCall(task, committed, asyncio.get_running_loop().create_future())
        if not streamed and self.parking.should_park(function, variant):
            self.parking.park(function, variant, committed)  # it waits in the store
            return active
        if streamed:
            task.stream = self.streams.open(call_id, workspace_id)
        self._active[call_id] = active
        committed.add_done_callback(lambda done: self._refused(active, done))
        self._schedule(task)
        return active

    def _refused(self, active: ActiveCall, committed: asyncio.Future[int]) -> None:
        """The call's insert failed (a full disk): it was never accepted (its caller gets the
        error), so it stops running now, for nobody."""
        if committed.cancelled() or committed.exception() is None:
            return
        self._active.pop(active.task.call_id, None)
        if not active.task.finished:
            active.task.finished = True
            self.scheduler.cancel(active.task)

    # TaskSink, called by the scheduler.

    def task_finished(self, task: Task, result: Output | Failure) -> None:
        if task.finished:
            return
        task.finished = True
        if task.stream is not None:
            task.stream.end()
        persist = asyncio.create_task(self._persist(outcome_of(task.call_id, result)))
        self._persisting.add(persist)
        persist.add_done_callback(self._persisting.discard)
        self.parking.page_in((task.function.function_id, task.variant.to_json()))

    async def _persist(self, outcome: CallOutcome) -> None:
        active = self._active.get(outcome.call_id)
        try:
            if active is not None:
                try:
                    await active.committed
                except StoreError:
                    return  # never accepted (`_refused`): nobody has its id
                outcome = await self._owned_blobs(outcome, active.task.workspace_id)
            attempt = 0
            while True:
                attempt += 1
                try:
                    await self._write_outcome(outcome, active)
                    break
                except (OSError, StoreError) as exc:
                    # Callers are told nothing until the outcome is kept. A busy file gets a
                    # few chances; a full disk as many as it takes for room to come back (until
                    # the gateway stops: the call then runs again in the next one).
                    logger.exception("storing the outcome of %s failed", outcome.call_id)
                    waits = is_disk_full(exc) and not self._draining.done()
                    if attempt >= PERSIST_ATTEMPTS and not waits:
                        raise
                    await asyncio.sleep(min(PERSIST_RETRY_DELAY_S * attempt, MAX_PERSIST_WAIT_S))
        finally:
            active = self._active.pop(outcome.call_id, None)
            if active is not None and not active.done.done():
                active.done.set_result(outcome)
            self._waiters.resolve(outcome)

    async def _owned_blobs(self, outcome: CallOutcome, workspace_id: str) -> CallOutcome:
        """`outcome`, unless it names a blob its workspace never stored (a container may only
        hand back what it sent itself): then a failure saying so."""
        for sha256 in (outcome.pickled_blob, outcome.json_blob):
            if sha256 is not None and await self._blobs.size_of(workspace_id, sha256) is None:
                return unowned_blob(outcome.call_id, sha256)
        return outcome

    async def _write_outcome(self, outcome: CallOutcome, active: ActiveCall | None) -> None:
        # A web response keeps its head where values keep their JSON, its body where pickles go.
        body = outcome.web.body if outcome.web is not None else outcome.pickled
        head = outcome.web.head_json() if outcome.web is not None else outcome.json
        pickled, pickled_sha256 = await self._blobs.offload(body)
        json_bytes, json_sha256 = await self._blobs.offload(head)
        pickled_sha256 = outcome.pickled_blob or pickled_sha256
        json_sha256 = outcome.json_blob or json_sha256
        stored = StoredOutcome(
            outcome.status,
            pickled,
            pickled_sha256,
            json_bytes,
            json_sha256,
            outcome.json_error,
            outcome.error,
        )
        attempt = active.task.attempt if active is not None else 0
        expires_at = time.time() + self._result_ttl_s
        await self._store.finish_call(outcome.call_id, stored, attempt, expires_at)

    # Web requests kept as calls (the proxy runs them; this keeps their response).

    async def begin_web(self, workspace_id: str, function: FunctionRecord) -> ActiveCall:
        """Keep a web request that outlives the request timeout (or asked not to wait) as a
        call, so its result URL can answer later."""
        call_id = new_id("fc")
        committed = self._store.insert_call(
            NewCall(
                call_id,
                workspace_id,
                function.function_id,
                None,
                WEB_PAYLOAD_FORMAT,
                None,
                None,
                False,
                False,
                time.time(),
            )
        )
        task = Task(
            call_id, workspace_id, function, PayloadFormat.JSON, b"", False, False, sink=self
        )
        active = ActiveCall(task, committed, asyncio.get_running_loop().create_future())
        self._active[call_id] = active
        return active

    def finish_web(self, active: ActiveCall, response: WebResponse) -> None:
        """The web request kept as `active` has its response."""
        if active.task.finished:
            return
        active.task.finished = True
        outcome = CallOutcome(active.task.call_id, CallStatus.SUCCESS, web=response)
        persist = asyncio.create_task(self._persist(outcome))
        self._persisting.add(persist)
        persist.add_done_callback(self._persisting.discard)

    # Reading and cancelling.

    @property
    def draining(self) -> asyncio.Future[None]:
        """Done once the gateway shuts down (waiting callers then get their result URL)."""
        return self._draining

    def start_draining(self) -> None:
        """The gateway shuts down: every caller waiting for a call is answered now (with
        None, so with the call's result URL); the calls go on in the next gateway."""
        if not self._draining.done():
            self._draining.set_result(None)

    async def wait(self, workspace_id: str, call_id: str, timeout_s: float) -> CallOutcome | None:
        """The call's outcome, waiting up to `timeout_s` (less while the gateway shuts down);
        None if it is still running then.

        Raises:
            NotFound: no such call in this workspace.
            OutputExpired: the call finished longer ago than results are kept.
        """
        active = self._active.get(call_id)
        if active is None or active.task.workspace_id != workspace_id:
            with self._waiters.waiting(call_id) as stored:
                record = await self._store.call(workspace_id, call_id)
                if record is None:
                    raise NotFound(f"no call with id {call_id!r}")
                if record.status.is_final:
                    return await self._stored_outcome(call_id)
                active = self._active.get(call_id)
                if active is None:  # parked: waits in the store for its turn
                    return await self._first(stored, timeout_s)
        return await self._first(active.done, timeout_s)

    async def _first(
        self, outcome: asyncio.Future[CallOutcome], timeout_s: float
    ) -> CallOutcome | None:
        """The outcome, if it comes within `timeout_s` and before the gateway shuts down."""
        # Neither future is cancelled by the wait: others wait on them too.
        await asyncio.wait(
            (outcome, self._draining), timeout=timeout_s, return_when=FIRST_COMPLETED
        )
        return outcome.result() if outcome.done() else None

    async def _stored_outcome(self, call_id: str) -> CallOutcome:
        found = await self._store.stored_outcome(call_id)
        if found is None:
            raise NotFound(f"no finished call with id {call_id!r}")
        stored, expired = found
        if expired:
            raise OutputExpired(call_id)
        if stored.status is CallStatus.SUCCESS and not stored.is_web:
            # A large value stays on disk; the response streams it from there.
            return CallOutcome(
                call_id,
                stored.status,
                stored.pickled,
                stored.json,
                stored.json_error,
                pickled_blob=stored.pickled_sha256,
                json_blob=stored.json_sha256,
            )
        pickled = await self._blobs.load(stored.pickled, stored.pickled_sha256)
        json_bytes = await self._blobs.load(stored.json, stored.json_sha256)
        if stored.is_web and json_bytes is not None:
            web = WebResponse.from_stored(json_bytes, pickled or b"")
            return CallOutcome(call_id, stored.status, web=web)
        return CallOutcome(
            call_id, stored.status, pickled, json_bytes, stored.json_error, stored.error
        )

    def is_running(self, call_id: str) -> bool:
        """Whether an input of the call is in a container now: the store holds a call as
        pending until its outcome, so only this gateway's memory knows (nothing is written)."""
        active = self._active.get(call_id)
        return active is not None and self.scheduler.is_running(active.task)

    async def cancel(self, workspace_id: str, call_id: str) -> CallStatus:
        """Cancel a call that has not finished; returns the call's final status.

        Raises:
            NotFound: no such call in this workspace.
        """
        active = self._active.get(call_id)
        if active is None or active.task.workspace_id != workspace_id:
            record = await self._store.call(workspace_id, call_id)
            if record is None:
                raise NotFound(f"no call with id {call_id!r}")
            active = self._active.get(call_id)
            if record.status.is_final or active is None:
                return record.status if record.status.is_final else await self._unpark(record)
        self.task_finished(
            active.task,
            Failure(
                CallStatus.CANCELLED, ErrorCode.CALL_CANCELLED, f"call {call_id} was cancelled"
            ),
        )
        self.scheduler.cancel(active.task)
        return (await asyncio.shield(active.done)).status

    async def sweep_streams(self, now: float) -> None:
        """Cancel generator calls whose values nobody has read for a while (the caller left)."""
        for stream in self.streams.sweep(now):
            if not stream.ended:
                await self.cancel(stream.workspace_id, stream.call_id)

    async def recover(self) -> int:
        """Park every call left pending or running by a previous gateway process (they are
        paged in, oldest first, in the background), and start the minimum containers of every
        current function; returns how many calls were found."""
        current = await self._store.current_functions()
        self.scheduler.prepare(current)
        current_ids = {function.function_id for function in current}
        recovered = 0
        for function_id, variant, count in await self._store.unfinished_pools():
            function = await self._store.function_by_id(function_id)
            if function is None:
                continue
            if function_id not in current_ids:
                # Calls of a replaced version finish on it; its pool then scales to zero.
                self.scheduler.retire({function_id})
            self.parking.recovered(function, Variant.from_json(variant), count)
            recovered += count
        return recovered

    async def _revive(
        self, function: FunctionRecord, variant: Variant, rows: list[UnfinishedCall]
    ) -> None:
        """Queue calls paged in from the store (parked, or left by an earlier process)."""
        tasks = []
        generator = is_generator_call(function, variant.method)
        for found in rows:
            record = found.record
            if record.call_id in self._active or record.call_id in self._unparking:
                continue
            if found.payload_format == WEB_PAYLOAD_FORMAT:
                self._end_lost(record.call_id, "the gateway restarted while this web request ran")
                continue
            if generator:
                # Its values went to a caller of the old process, and cannot be sent again.
                self._end_lost(record.call_id, "the gateway restarted while this generator ran")
                continue
            if found.payload is None and found.payload_sha256 is None:
                self._end_lost(record.call_id, "its arguments are gone from the gateway")
                continue
            if found.payload_sha256 is not None:
                # The container fetches it (calls of older versions had no blob grant).
                try:
                    size = self._blobs.path_of(found.payload_sha256).stat().st_size
                except FileNotFoundError:
                    self._end_lost(record.call_id, "its arguments' file is gone from the gateway")
                    continue
                await self._blobs.grant(record.workspace_id, found.payload_sha256, size)
            task = Task(
                record.call_id,
                record.workspace_id,
                function,
                PayloadFormat(found.payload_format),
                found.payload or b"",
                found.wants_json,
                found.wants_pickle,
                attempt=record.attempt,
                variant=variant,
                payload_blob=found.payload_sha256,
                sink=self,
            )
            committed: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            committed.set_result(0)
            done = asyncio.get_running_loop().create_future()
            self._active[record.call_id] = ActiveCall(task, committed, done)
            tasks.append(task)
        self.scheduler.submit_many(tasks)

    async def _unpark(self, record: CallRecord) -> CallStatus:
        """Cancel a call that waits in the store (parked): it is never queued."""
        self._unparking.add(record.call_id)  # a page reading it now passes it by
        try:
            variant = Variant.from_json(await self._store.call_variant(record.call_id))
            self.parking.cancelled(record.function_id, variant, record.call_id)
            message = f"call {record.call_id} was cancelled"
            failure = Failure(CallStatus.CANCELLED, ErrorCode.CALL_CANCELLED, message)
            await self._persist(outcome_of(record.call_id, failure))
        finally:
            self._unparking.discard(record.call_id)
        final = await self._store.call(record.workspace_id, record.call_id)
        return CallStatus.CANCELLED if final is None else final.status

    def _end_lost(self, call_id: str, reason: str) -> None:
        # What the call answered to is gone with the old process; its result gets a clear answer.
        failure = Failure(CallStatus.TERMINATED, ErrorCode.CALL_TERMINATED, reason)
        persist = asyncio.create_task(self._persist(outcome_of(call_id, failure)))
        self._persisting.add(persist)
        persist.add_done_callback(self._persisting.discard)

    async def drain(self) -> None:
        """Wait for outcomes being written (and stop paging calls in)."""
        await self.parking.close()
        while self._persisting:
            await asyncio.gather(*list(self._persisting), return_exceptions=True)


def _log_failure(done: asyncio.Future[None]) -> None:
    if not done.cancelled() and done.exception() is not None:
        logger.error("a call update could not be stored: %s", done.exception())
