"""The values of generator calls, on their way from the container to the caller.

A generator call's values are kept in memory, in order, until the caller has read them;
at most `MAX_BUFFERED` wait unread, and past that the container waits (the gateway stops
reading its connection). A stream nobody reads for `idle_timeout_s` is dropped and its call
cancelled, so nothing keeps running for nobody. The call's end (success, or the error) is
stored like any call's.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from dataclasses import dataclass, field

from wharf_runner import Output

from wharf_gateway.errors import NotFound

#: Values that may wait unread before the container is made to wait.
MAX_BUFFERED = 1_000
#: Most values one read returns.
MAX_READ = 1_000


@dataclass(slots=True, eq=False)
class ItemStream:
    call_id: str
    workspace_id: str
    #: `(sequence number, value's output)` not yet acknowledged.
    items: deque[tuple[int, Output]] = field(default_factory=deque)
    sequence: int = 0
    #: The call's end, once the generator returned or failed (None while it runs).
    ended: bool = False
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    last_read_s: float = field(default_factory=time.monotonic)
    closed: bool = False

    async def put(self, output: Output) -> None:
        """Add a value, waiting while too many wait unread."""
        while len(self.items) >= MAX_BUFFERED and not (self.closed or self.ended):
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self.changed.wait()
        if self.closed or self.ended:
            return  # the call ended (cancelled): its late values go nowhere
        self.sequence += 1
        self.items.append((self.sequence, output))
        self.changed.set()

    def end(self) -> None:
        self.ended = True
        self.changed.set()

    async def read(self, after: int, wait_s: float) -> list[tuple[int, Output]]:
        """Values after sequence number `after` (those up to it were received and are
        dropped), waiting up to `wait_s` for one while the generator runs."""
        while self.items and self.items[0][0] <= after:
            self.items.popleft()
            self.changed.set()  # a waiting `put` may go on
        if not self.items and not self.ended and wait_s > 0:
            self.changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait_s):
                    await self.changed.wait()
        self.last_read_s = time.monotonic()
        return [item for _, item in zip(range(MAX_READ), self.items, strict=False)]

    def read_all(self, values: list[tuple[int, Output]]) -> bool:
        """Whether `values` (just read) were the last: the generator has ended."""
        return self.ended and len(values) == len(self.items)


class StreamService:
    """The streams of running (and recently ended, unread) generator calls."""

    def __init__(self, idle_timeout_s: float = 60.0) -> None:
        self._idle_timeout_s = idle_timeout_s
        self._streams: dict[str, ItemStream] = {}

    @property
    def idle_timeout_s(self) -> float:
        return self._idle_timeout_s

    def open(self, call_id: str, workspace_id: str) -> ItemStream:
        stream = self._streams[call_id] = ItemStream(call_id, workspace_id)
        return stream

    def get(self, workspace_id: str, call_id: str) -> ItemStream:
        """The stream of a generator call of this workspace.

        Raises:
            NotFound: no such stream (not a generator call, read to its end, or unread too long).
        """
        stream = self._streams.get(call_id)
        if stream is None or stream.workspace_id != workspace_id:
            raise NotFound(
                f"no values of call {call_id!r} to read: it is not a generator call, its values "
                "were read to the end, or nobody read them for too long"
            )
        return stream

    def finished_reading(self, stream: ItemStream) -> None:
        """The caller has read the last value: forget the stream."""
        self._streams.pop(stream.call_id, None)

    def sweep(self, now: float) -> list[ItemStream]:
        """Drop streams nobody has read for the idle timeout; returns them (to cancel the
        calls still running)."""
        dropped = []
        for stream in list(self._streams.values()):
            if now - stream.last_read_s > self._idle_timeout_s:
                stream.closed = True
                stream.changed.set()
                del self._streams[stream.call_id]
                dropped.append(stream)
        return dropped
