"""Cancelling one input of a container without touching the others it runs.

An async input (a coroutine function, or an async generator) is cancelled where it stands: the
user's code sees `asyncio.CancelledError` at its current `await`. An input that has not started
yet (later in its batch, or still on its way) is skipped when it comes. A sync input running on
a thread (or on the loop) cannot be interrupted: the agent says so, and the gateway drains the
container instead (no new inputs; retired once its other inputs are done).
"""

from __future__ import annotations

import asyncio
import inspect
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from wharf_runner.agent.executor import failure_output
from wharf_runner.channel.envelope import Input, Output
from wharf_runner.errors import InputInterrupted

#: Input ids remembered as cancelled before they arrived (an id the gateway cancelled after
#: the input ended never comes, so the memory is bounded).
MAX_REMEMBERED = 4096


def can_interrupt(function: Callable[..., Any]) -> bool:
    """Whether an input of `function` can be cancelled where it stands (it runs on the loop
    and gives way at each `await`)."""
    return inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)


class Interrupts:
    """The inputs this agent runs now, by input id, and what a cancel can do to each."""

    def __init__(self) -> None:
        self._interruptible: dict[str, asyncio.Task[Output]] = {}
        self._blocking: set[str] = set()
        self._cancelled: OrderedDict[str, None] = OrderedDict()

    def busy(self) -> bool:
        """Whether an input runs now (safe to ask from another thread)."""
        return bool(self._interruptible or self._blocking)

    def cancel(self, input_id: str) -> bool:
        """Cancel an input; False when it runs sync code that cannot be interrupted."""
        if input_id in self._blocking:
            return False
        task = self._interruptible.get(input_id)
        if task is not None:
            task.cancel()
            return True
        self._cancelled[input_id] = None  # not started (or already ended): skip it if it comes
        while len(self._cancelled) > MAX_REMEMBERED:
            self._cancelled.popitem(last=False)
        return True

    async def run(
        self, item: Input, function: Callable[..., Any], work: Callable[[], Awaitable[Output]]
    ) -> Output:
        """Run one input's `work`, so that `cancel(item.input_id)` can reach it."""
        if item.input_id in self._cancelled:
            del self._cancelled[item.input_id]
            return _cancelled(item)
        if not can_interrupt(function):
            self._blocking.add(item.input_id)
            try:
                return await work()
            finally:
                self._blocking.discard(item.input_id)
        task = asyncio.ensure_future(work())
        self._interruptible[item.input_id] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # the agent itself is stopping (or lost its connection)
            return _cancelled(item)
        finally:
            self._interruptible.pop(item.input_id, None)


def _cancelled(item: Input) -> Output:
    return failure_output(InputInterrupted(f"input {item.input_id} was cancelled"), item)
