"""Driving protocols that hand out many values: written once as generators that yield the
requests they need sent (and are sent the responses) and the values to hand out; `drive`
runs one with blocking requests, `drive_async` on an event loop. Leaving the loop early
sends the protocol's closing request, so nothing keeps running for nobody."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

from wharf._errors import NotFoundError
from wharf._http import ApiRequest, send, send_async

#: How often a caller busy between reads tells the gateway it is still there.
HEARTBEAT_S = 15.0
_TICK_S = 0.1


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


class _Heartbeat(threading.Thread):
    """Tells the gateway, every `HEARTBEAT_S`, that the caller is still there while it is
    busy between reads (a long loop body), so its map or stream is not taken as abandoned."""

    def __init__(self, touch: Closer, interval: Callable[[], float]) -> None:
        super().__init__(name="wharf-heartbeat", daemon=True)
        self._touch = touch
        self._interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        last = time.monotonic()
        # Short waits: the interval becomes known (from the gateway) after this starts.
        while not self._stopped.wait(_TICK_S):
            if time.monotonic() - last < self._interval():
                continue
            last = time.monotonic()
            request = self._touch()
            if request is not None:
                with contextlib.suppress(Exception):  # the next read reports any real problem
                    send(request)

    def stop(self) -> None:
        self._stopped.set()


@dataclass(slots=True)
class Session:
    """What a protocol started on the gateway: its id once known, whether it ended, and how
    often to tell the gateway the caller is still there (a third of its idle timeout)."""

    id: str | None = None
    done: bool = False
    beat_s: float = HEARTBEAT_S

    def idle_timeout(self, seconds: object) -> None:
        if isinstance(seconds, int | float) and seconds > 0:
            self.beat_s = min(HEARTBEAT_S, float(seconds) / 3)


def session_requests(
    session: Session, close_path: Callable[[str], str], touch_path: Callable[[str], str]
) -> tuple[Closer, Closer]:
    """The request ending a session left before its end, and the heartbeat's request."""

    def close() -> ApiRequest | None:
        if session.id is None or session.done:
            return None
        return ApiRequest("DELETE", close_path(session.id))

    def touch() -> ApiRequest | None:
        if session.id is None or session.done:
            return None
        return ApiRequest("POST", touch_path(session.id))

    return close, touch


def drive(
    protocol: Protocol,
    close: Closer,
    return_exceptions: bool = False,
    touch: Closer | None = None,
    session: Session | None = None,
) -> Iterator[Any]:
    """Run a protocol with blocking requests on this thread."""
    beat = session or Session()
    heartbeat = _Heartbeat(touch, lambda: beat.beat_s) if touch is not None else None
    if heartbeat is not None:
        heartbeat.start()
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
        if heartbeat is not None:
            heartbeat.stop()
        request = close()
        if request is not None:
            with contextlib.suppress(NotFoundError):  # it ended on its own meanwhile
                send(request)


async def _beat(touch: Closer, session: Session) -> None:
    last = time.monotonic()
    while True:
        await asyncio.sleep(_TICK_S)
        if time.monotonic() - last < session.beat_s:
            continue
        last = time.monotonic()
        request = touch()
        if request is not None:
            with contextlib.suppress(Exception):
                await send_async(request)


async def drive_async(
    protocol: Protocol,
    close: Closer,
    return_exceptions: bool = False,
    touch: Closer | None = None,
    session: Session | None = None,
) -> AsyncIterator[Any]:
    """Run a protocol on the running event loop."""
    beat = session or Session()
    heartbeat = asyncio.ensure_future(_beat(touch, beat)) if touch is not None else None
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
        if heartbeat is not None:
            heartbeat.cancel()
        request = close()
        if request is not None:
            with contextlib.suppress(NotFoundError):
                await send_async(request)
