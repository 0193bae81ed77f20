"""Work that outlives the request that started it (a kept web request finishing)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any


class Background:
    """Holds background tasks so they are not collected mid-flight, and ends them at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def finish(self, timeout_s: float) -> None:
        """Wait up to `timeout_s` for what runs to end by itself (a shutting-down gateway lets
        kept web requests finish, so their callers find the response after the restart)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout_s)

    async def cancel_all(self) -> None:
        """Cancel what still runs (its calls are recovered, or ended, at the next start)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
