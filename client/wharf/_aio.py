"""Blocking methods with `.aio` twins.

Each operation is a flow (see `client._http`): calling the method runs it with blocking requests
on the caller's thread; `.aio` runs the same flow on the caller's event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Concatenate, Generic, ParamSpec, TypeVar, overload

from wharf._http import Flow, run_flow, run_flow_async

P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S")


class Twin(Generic[P, R]):
    """A blocking call; `.aio(...)` is the same call as a coroutine."""

    __slots__ = ("_flow",)

    def __init__(self, flow: Callable[P, Flow[R]]) -> None:
        self._flow = flow

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return run_flow(self._flow(*args, **kwargs))

    async def aio(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return await run_flow_async(self._flow(*args, **kwargs))


class blocking(Generic[S, P, R]):
    """Decorator: a method returning a flow becomes a blocking method with an `.aio` twin."""

    def __init__(self, method: Callable[Concatenate[S, P], Flow[R]]) -> None:
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

        def bound(*args: P.args, **kwargs: P.kwargs) -> Flow[R]:
            return method(instance, *args, **kwargs)

        return Twin(bound)
