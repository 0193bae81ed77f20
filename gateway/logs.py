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
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson

from gateway.errors import GatewayError
from gateway.responses import sse_event

#: Longest wait for new lines before the store is read anyway.
POLL_S = 2.0
#: Shortest time between two reads of one stream: a chatty function's lines come in batches.
MIN_READ_INTERVAL_S = 0.2
#: Longest silence on a stream: a comment then keeps proxies from closing it.
KEEPALIVE_S = 15.0

#: Reads the lines after a line id: `(lines, id to read on after)` (see `Store.logs`).
LogReader = Callable[[int], Awaitable[tuple[list[dict[str, Any]], int]]]


class LogFeed:
    """Tells waiting streams that log lines were stored."""

    def __init__(self) -> None:
        self._stored = asyncio.Event()

    def notify(self) -> None:
        """New lines are committed: wake every stream waiting now."""
        self._stored.set()
        self._stored = asyncio.Event()

    async def wait(self, timeout_s: float) -> None:
        """Until lines are stored, or `timeout_s` passes."""
        stored = self._stored
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await stored.wait()


async def log_events(
    feed: LogFeed,
    read: LogReader,
    after_id: int,
    still_allowed: Callable[[], Awaitable[object]],
    batch_lines: int,
) -> AsyncIterator[bytes]:
    """One `log` event per line (the line's id as the event id, so a client can resume from
    it), a comment after each `KEEPALIVE_S` of silence, and an `error` event before the end when
    `still_allowed` raises (the stream's token was revoked or expired meanwhile). Reads up to
    `batch_lines` lines at a time; runs until the client leaves."""
    yield b": live logs\n\n"
    last_sent_s = time.monotonic()
    while True:
        try:
            await still_allowed()
        except GatewayError as error:
            body = {"error": {"code": error.code, "message": error.message}}
            yield sse_event(orjson.dumps(body), "error")
            return
        lines, after_id = await read(after_id)
        for line in lines:
            yield sse_event(orjson.dumps(line), "log", line["id"])
        if lines:
            last_sent_s = time.monotonic()
        elif time.monotonic() - last_sent_s >= KEEPALIVE_S:
            yield b": keep-alive\n\n"
            last_sent_s = time.monotonic()
        if len(lines) < batch_lines:
            await feed.wait(POLL_S)
        await asyncio.sleep(MIN_READ_INTERVAL_S)
