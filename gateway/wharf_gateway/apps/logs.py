"""Live logs: an app's (or one function's) log lines as server-sent events while they come.

A stream reads its lines from the store, exactly as `GET .../logs` would, so what it shows is
what was kept. The feed wakes the streams when this gateway has stored new lines; lines stored by
another gateway process are found by a read every `POLL_S`, so an idle stream costs one small
query every few seconds and nothing on the path of calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

import orjson

from wharf_gateway.errors import GatewayError, TooManyStreams
from wharf_gateway.responses import error_body, sse_event

#: Longest wait for new lines before the store is read anyway.
POLL_S = 2.0
#: Shortest time between two reads of one stream: a chatty function's lines come in batches.
MIN_READ_INTERVAL_S = 0.2
#: Longest silence on a stream: a comment then keeps proxies from closing it.
KEEPALIVE_S = 15.0
#: Most live log streams one workspace may have open at once.
MAX_STREAMS_PER_WORKSPACE = 16

#: Reads the lines after a line id: `(lines, id to read on after)` (see `Store.logs`).
LogReader = Callable[[int], Awaitable[tuple[list[dict[str, Any]], int]]]


class LogFeed:
    """Tells an app's waiting streams that its log lines were stored, and bounds how many
    streams each workspace has open."""

    def __init__(self, max_streams_per_workspace: int = MAX_STREAMS_PER_WORKSPACE) -> None:
        self._stored: dict[str, asyncio.Event] = {}
        self._open: Counter[str] = Counter()
        self._max_streams = max_streams_per_workspace
        #: Set when the gateway shuts down: every stream ends.
        self.closing = asyncio.Event()

    def notify(self, app_ids: Iterable[str]) -> None:
        """New lines of these apps are committed: wake their streams."""
        for app_id in app_ids:
            stored = self._stored.pop(app_id, None)
            if stored is not None:
                stored.set()

    def ticket(self, app_id: str) -> asyncio.Event:
        """Set by the next `notify` of the app: taken before a read, so that lines stored
        while it runs are not missed."""
        return self._stored.setdefault(app_id, asyncio.Event())

    def open_stream(self, workspace_id: str) -> Callable[[], None]:
        """Count a new stream of the workspace; returns what closes it (once).

        Raises:
            TooManyStreams: the workspace has `max_streams_per_workspace` open.
        """
        if self._open[workspace_id] >= self._max_streams:
            raise TooManyStreams(self._max_streams)
        self._open[workspace_id] += 1
        closed = False

        def close() -> None:
            nonlocal closed
            if not closed:
                closed = True
                self._open[workspace_id] -= 1
                if not self._open[workspace_id]:
                    del self._open[workspace_id]

        return close


async def _wait(ticket: asyncio.Event, closing: asyncio.Event, timeout_s: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            stored = asyncio.ensure_future(ticket.wait())
            ending = asyncio.ensure_future(closing.wait())
            try:
                await asyncio.wait((stored, ending), return_when=asyncio.FIRST_COMPLETED)
            finally:
                stored.cancel()
                ending.cancel()


async def log_events(
    feed: LogFeed,
    app_id: str,
    read: LogReader,
    after_id: int,
    still_allowed: Callable[[], Awaitable[object]],
    batch_lines: int,
) -> AsyncIterator[bytes]:
    """One `log` event per line of the app (the line's id as the event id, so a client can
    resume from it), a comment after each `KEEPALIVE_S` of silence, and an `error` event before
    the end when `still_allowed` raises (the stream's token was revoked or expired meanwhile).
    Reads up to `batch_lines` lines at a time; runs until the client leaves or the gateway shuts
    down."""
    yield b": live logs\n\n"
    last_sent_s = time.monotonic()
    while not feed.closing.is_set():
        try:
            await still_allowed()
        except GatewayError as error:
            yield sse_event(orjson.dumps(error_body(error.code, error.message)), "error")
            return
        ticket = feed.ticket(app_id)
        lines, after_id = await read(after_id)
        for line in lines:
            yield sse_event(orjson.dumps(line), "log", line["id"])
        if lines:
            last_sent_s = time.monotonic()
        elif time.monotonic() - last_sent_s >= KEEPALIVE_S:
            yield b": keep-alive\n\n"
            last_sent_s = time.monotonic()
        if len(lines) < batch_lines:
            await _wait(ticket, feed.closing, POLL_S)
        await asyncio.sleep(MIN_READ_INTERVAL_S)
