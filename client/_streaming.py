"""Driving protocols that hand out many values: written once as generators that yield the
requests they need sent (and are sent the responses) and the values to hand out; `drive`
runs one with blocking requests, `drive_async` on an event loop. Leaving the loop early
sends the protocol's closing request, so nothing keeps running for nobody."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from client._errors import NotFoundError
from client._http import ApiRequest, send, send_async


@dataclass(frozen=True, slots=True)
class Emit:
    """A value to hand out: `index` is its input's place; `failed` makes `value` an
    exception; `many` makes it a list of values handed out one by one."""

    index: int
    value: Any
    failed: bool = False
    many: bool = False


#: Yields requests (and is sent their responses) and values to hand out (sent nothing).
Protocol = Generator["ApiRequest | Emit", Any, None]
#: The request that ends what the protocol started, if it was left before its end.
Closer = Callable[[], "ApiRequest | None"]


def _values(emit: Emit, return_exceptions: bool) -> list[Any]:
    if emit.failed and not return_exceptions:
        raise emit.value
    return list(emit.value) if emit.many and not emit.failed else [emit.value]


def drive(protocol: Protocol, close: Closer, return_exceptions: bool = False) -> Iterator[Any]:
    """Run a protocol with blocking requests on this thread."""
    try:
        step = next(protocol)
        while True:
            if isinstance(step, ApiRequest):
                step = protocol.send(send(step))
            else:
                yield from _values(step, return_exceptions)
                step = next(protocol)
    except StopIteration:
        return
    finally:
        request = close()
        if request is not None:
            with contextlib.suppress(NotFoundError):  # it ended on its own meanwhile
                send(request)


async def drive_async(
    protocol: Protocol, close: Closer, return_exceptions: bool = False
) -> AsyncIterator[Any]:
    """Run a protocol on the running event loop."""
    try:
        step = next(protocol)
        while True:
            if isinstance(step, ApiRequest):
                step = protocol.send(await send_async(step))
            else:
                for value in _values(step, return_exceptions):
                    yield value
                step = next(protocol)
    except StopIteration:
        return
    finally:
        request = close()
        if request is not None:
            with contextlib.suppress(NotFoundError):
                await send_async(request)
