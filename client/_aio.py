"""Blocking methods with `.aio` twins.

Every blocking operation is written once, as a coroutine. `blocking` turns it into a method that
runs the coroutine to completion on a private event-loop thread, with the coroutine itself
reachable as `.aio` for callers already inside an event loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")

_loop_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _loop_lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="wharf-client", daemon=True)
            thread.start()
            _loop = loop
        return _loop


def run_blocking(coroutine: Coroutine[Any, Any, R]) -> R:
    """Run a coroutine on the client's loop thread and wait for its result."""
    loop = _background_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        coroutine.close()
        raise RuntimeError("a blocking Wharf call was made from the client's own loop; use .aio")
    return asyncio.run_coroutine_threadsafe(coroutine, loop).result()


class Twin(Generic[P, R]):
    """A bound blocking call; `.aio` is the same call as a coroutine."""

    __slots__ = ("aio",)

    def __init__(self, aio: Callable[P, Awaitable[R]]) -> None:
        self.aio = aio

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        async def run() -> R:
            return await self.aio(*args, **kwargs)

        return run_blocking(run())


class blocking(Generic[S, P, R]):
    """Decorator: an async method becomes a blocking method with an `.aio` twin."""

    def __init__(self, method: Callable[Concatenate[S, P], Awaitable[R]]) -> None:
        self._method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, instance: None, owner: type[S]) -> blocking[S, P, R]: ...
    @overload
    def __get__(self, instance: S, owner: type[S]) -> Twin[P, R]: ...
    def __get__(self, instance: S | None, owner: type[S]) -> Twin[P, R] | blocking[S, P, R]:
        if instance is None:
            return self
        method = self._method

        async def bound(*args: P.args, **kwargs: P.kwargs) -> R:
            return await method(instance, *args, **kwargs)

        return Twin(bound)
