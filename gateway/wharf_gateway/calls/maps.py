"""Maps: many inputs of one function, sent in batches and answered as they finish.

A map lives as long as its caller reads from it: its inputs run like calls (retries, pools,
timeouts) but are kept in memory only, and a map nobody has read for `idle_timeout_s` is
cancelled, so nothing keeps running for nobody. The caller's window bounds what a map holds:
inputs not yet finished plus outputs not yet read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, deque
from dataclasses import dataclass, field

from wharf.error_codes import ErrorCode
from wharf_runner import Output, PayloadFormat

from wharf_gateway.calls.outcomes import outcome_of
from wharf_gateway.errors import NotFound, TooManyMaps, WindowFull
from wharf_gateway.ids import new_id
from wharf_gateway.models import CallOutcome, CallStatus, FunctionRecord
from wharf_gateway.scheduling.scheduler import Scheduler
from wharf_gateway.scheduling.tasks import Failure, Task
from wharf_gateway.scheduling.variants import Variant

#: Most inputs a map holds at once (running, waiting, or answered and not yet read).
MAX_WINDOW = 20_000
#: Most outputs one read returns.
MAX_READ = 10_000
#: Most maps one workspace may have open at once (each may hold `MAX_WINDOW` inputs).
MAX_MAPS_PER_WORKSPACE = 64


@dataclass(slots=True, eq=False)
class MapSession:
    map_id: str
    workspace_id: str
    function: FunctionRecord
    variant: Variant
    payload_format: PayloadFormat
    wants_json: bool
    wants_pickle: bool
    #: Inputs accepted so far (the next input's index).
    accepted: int = 0
    running: set[Task] = field(default_factory=set)
    #: `(sequence number, index, outcome)` of finished inputs not yet acknowledged.
    outputs: deque[tuple[int, int, CallOutcome]] = field(default_factory=deque)
    sequence: int = 0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    last_read_s: float = field(default_factory=time.monotonic)
    closed: bool = False
    #: Bytes of the payloads of its inputs waiting or running (blobs not counted).
    input_bytes: int = 0

    @property
    def held(self) -> int:
        return len(self.running) + len(self.outputs)

    # TaskSink: the scheduler reports each input's outcome here.
    def task_finished(self, task: Task, result: Output | Failure) -> None:
        if task.finished:
            return
        task.finished = True
        self.running.discard(task)
        self.input_bytes -= len(task.payload)
        if self.closed:
            return
        self.sequence += 1
        self.outputs.append((self.sequence, task.index, outcome_of(task.call_id, result)))
        self.changed.set()


class MapService:
    """The maps of all workspaces, by id."""

    def __init__(
        self, scheduler: Scheduler, idle_timeout_s: float = 60.0, max_body_bytes: int = 1 << 26
    ) -> None:
        self._scheduler = scheduler
        self._idle_timeout_s = idle_timeout_s
        #: Most payload bytes one batch of inputs should carry, and one map hold.
        self.max_batch_bytes = max_body_bytes // 2
        self.max_input_bytes = 4 * max_body_bytes
        self._maps: dict[str, MapSession] = {}
        self._open_maps: Counter[str] = Counter()
        # Map inputs are bounded by their maps' windows, not by the function's backlog limit.
        scheduler.exclude_from_backlog(self.in_flight)

    def in_flight(self, function_id: str) -> int:
        """Inputs of the function's maps that are waiting or running."""
        return sum(
            len(session.running)
            for session in self._maps.values()
            if session.function.function_id == function_id
        )

    @property
    def idle_timeout_s(self) -> float:
        return self._idle_timeout_s

    def open(
        self,
        workspace_id: str,
        function: FunctionRecord,
        variant: Variant,
        payload_format: PayloadFormat,
        *,
        wants_pickle: bool,
    ) -> MapSession:
        """Start a map (checked like a call: GPUs, pools).

        Raises:
            NoCapacity, TooManyPools: as for a call.
            TooManyMaps: the workspace has `MAX_MAPS_PER_WORKSPACE` maps open.
        """
        if self._open_maps[workspace_id] >= MAX_MAPS_PER_WORKSPACE:
            raise TooManyMaps(MAX_MAPS_PER_WORKSPACE)
        self._scheduler.admit(variant.apply(function), variant, backlog=False)
        session = MapSession(
            new_id("map"),
            workspace_id,
            function,
            variant,
            payload_format,
            wants_json=not wants_pickle,
            wants_pickle=wants_pickle,
        )
        self._maps[session.map_id] = session
        self._open_maps[workspace_id] += 1
        return session

    def get(self, workspace_id: str, map_id: str) -> MapSession:
        """A live map of this workspace.

        Raises:
            NotFound: no such map here (or it ended, or belongs to another workspace).
        """
        session = self._maps.get(map_id)
        if session is None or session.workspace_id != workspace_id or session.closed:
            raise NotFound(f"no map with id {map_id!r} (maps end when nobody reads them)")
        session.last_read_s = time.monotonic()
        return session

    def add_inputs(
        self, session: MapSession, payloads: list[bytes], blobs: list[str | None] | None = None
    ) -> None:
        """Queue inputs, numbered after those already sent; an input whose `blobs` entry names
        a blob (checked to be the workspace's) takes its payload from there.

        Raises:
            WindowFull: the map would hold more than `MAX_WINDOW` inputs.
        """
        if session.closed:
            raise NotFound(f"map {session.map_id!r} has ended")
        if session.held + len(payloads) > MAX_WINDOW:
            raise WindowFull(MAX_WINDOW)
        size = sum(len(payload) for payload in payloads)
        if session.input_bytes and session.input_bytes + size > self.max_input_bytes:
            raise WindowFull(self.max_input_bytes, "bytes of inputs waiting or running")
        session.input_bytes += size
        tasks = []
        for position, payload in enumerate(payloads):
            task = Task(
                new_id("fc"),  # calls made from the input name it as their parent
                session.workspace_id,
                session.function,
                session.payload_format,
                payload,
                session.wants_json,
                session.wants_pickle,
                variant=session.variant,
                sink=session,
                index=session.accepted,
                payload_blob=blobs[position] if blobs else None,
            )
            session.accepted += 1
            tasks.append(task)
        session.running.update(tasks)
        self._scheduler.submit_many(tasks)

    @staticmethod
    def touch(session: MapSession) -> None:
        """Its caller is still there (it is reading, slowly)."""
        session.last_read_s = time.monotonic()

    def reject(self, session: MapSession, code: ErrorCode, message: str) -> None:
        """Answer the next input with an error at once, without running it (a bad line)."""
        index = session.accepted
        session.accepted += 1
        failure = Failure(CallStatus.FAILURE, code, message)
        session.sequence += 1
        session.outputs.append((session.sequence, index, outcome_of(new_id("fc"), failure)))
        session.changed.set()

    async def room(self, session: MapSession, wanted: int) -> int:
        """Wait until the map can take more inputs; how many (at most `wanted`)."""
        while not session.closed and session.held >= MAX_WINDOW:
            session.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await session.changed.wait()
        return min(wanted, MAX_WINDOW - session.held)

    async def read(
        self, session: MapSession, after: int, wait_s: float
    ) -> list[tuple[int, int, CallOutcome]]:
        """Outputs after sequence number `after` (those up to it were received and are
        dropped), waiting up to `wait_s` for a first one."""
        while session.outputs and session.outputs[0][0] <= after:
            session.outputs.popleft()
        if not session.outputs and wait_s > 0 and not session.closed:
            session.changed.clear()
            try:
                async with asyncio.timeout(wait_s):
                    await session.changed.wait()
            except TimeoutError:
                pass
        session.last_read_s = time.monotonic()
        return [output for _, output in zip(range(MAX_READ), session.outputs, strict=False)]

    def close(self, session: MapSession) -> None:
        """End a map: inputs still waiting are dropped, and containers running only its
        inputs are stopped."""
        session.closed = True
        if self._maps.pop(session.map_id, None) is not None:
            self._open_maps[session.workspace_id] -= 1
            if not self._open_maps[session.workspace_id]:
                del self._open_maps[session.workspace_id]
        for task in session.running:
            task.finished = True  # a late output is dropped
        session.running.clear()
        self._scheduler.abandon_finished(session.function, session.variant)
        session.outputs.clear()
        session.changed.set()

    def sweep(self, now: float) -> None:
        """Cancel maps nobody has read for the idle timeout (their caller is gone)."""
        for session in list(self._maps.values()):
            if now - session.last_read_s > self._idle_timeout_s:
                self.close(session)
