"""`Function.map` and friends: inputs go to the gateway in batches as the caller's iterators
yield them, with a bounded number in flight, and outputs come back in batches as they finish.

The protocol is written once, as a generator (`_map_protocol`) that yields the requests it
needs sent and the results to hand out; `iterate` drives it with blocking requests and
`iterate_async` on an event loop. Leaving the loop early ends the map on the gateway, so
nothing keeps running for nobody.
"""

from __future__ import annotations

import base64
import bisect
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from typing import Any
from urllib.parse import quote

import httpx

from wharf._blobs import INLINE_PAYLOAD_BYTES, download, upload
from wharf._context import current_function_call_id
from wharf._errors import InvalidError, error_from_code
from wharf._http import IDEMPOTENCY_HEADER, PARENT_CALL_HEADER, ApiRequest, Flow
from wharf._streaming import Closer, Emit, Protocol, Session, drive, drive_async, session_requests
from wharf.error_codes import ErrorCode
from wharf.frames import pack_frame, split_parts, unpack_frame
from wharf.serialization import deserialize, rebuild_exception, serialize_arguments

#: Inputs sent in one request, and most held by the gateway at once (sent, not yet read).
BATCH = 2_000
WINDOW = 10_000
#: Calls `spawn_map` starts with one request.
SPAWN_BATCH = 1_000
#: Most bytes of inline payloads in one request, and sent and not yet answered.
BATCH_BYTES = 16 * 1024 * 1024
BYTES_IN_FLIGHT = 64 * 1024 * 1024
#: Longest a batch of inputs waits for more from a slow iterator before it is sent.
FLUSH_S = 0.05
#: Longest wait of one read for outputs, when nothing else is to be done.
READ_WAIT_S = 30.0


def _outputs(response: httpx.Response) -> Flow[tuple[list[Emit], int]]:
    """The outputs of one read (values over 2 MiB fetched from their blobs), and the sequence
    number of the last."""
    head, rest = unpack_frame(response.content)
    heads = head.get("outputs")
    if not isinstance(heads, list):
        raise ValueError("the gateway's output frame has no output list")
    values = split_parts(rest, [int(item["size"]) for item in heads])
    flatten = bool(head.get("flatten"))
    emits, last = [], 0
    for item, value in zip(heads, values, strict=True):
        last = int(item["seq"])
        if item.get("blob"):
            value = yield from download(str(item["blob"]))
        if item["status"] == "success":
            emits.append(Emit(int(item["index"]), deserialize(value), many=flatten))
            continue
        error = dict(item.get("error") or {})
        if error.get("code") == ErrorCode.FUNCTION_FAILED:
            if value:
                error["exception_pickle"] = base64.b64encode(value).decode("ascii")
            exception = rebuild_exception(error)
        else:
            exception = error_from_code(str(error.get("code")), str(error.get("message", "")))
        emits.append(Emit(int(item["index"]), exception, True))
    return emits, last


class _Order:
    """Hands outputs out in input order (or as they come), numbering them as the caller did:
    inputs that could not be serialized were never sent, so the gateway's numbers skip them."""

    def __init__(self, ordered: bool) -> None:
        self._ordered = ordered
        self._next = 0
        self._waiting: dict[int, Emit] = {}
        self._skips: list[int] = []

    @property
    def parked(self) -> int:
        """Outputs received and held back for an earlier one still running."""
        return len(self._waiting)

    def skip(self, index: int) -> None:
        self._skips.append(index)

    def _caller_index(self, gateway_index: int) -> int:
        index = gateway_index
        while (moved := gateway_index + bisect.bisect_right(self._skips, index)) != index:
            index = moved
        return index

    def hand_out(self, emit: Emit, *, gateway_index: bool = False) -> Iterator[Emit]:
        if gateway_index:
            emit = dataclasses.replace(emit, index=self._caller_index(emit.index))
        if not self._ordered:
            yield emit
            return
        self._waiting[emit.index] = emit
        while self._next in self._waiting:
            yield self._waiting.pop(self._next)
            self._next += 1


def _encoded(
    item: tuple[tuple[Any, ...], dict[str, Any]], index: int
) -> Flow[tuple[bytes, str | None]]:
    """An input's payload, or, over 2 MiB, nothing and the blob it was sent as."""
    payload = serialize_arguments(*item)
    if len(payload) <= INLINE_PAYLOAD_BYTES:
        return payload, None
    return b"", (yield from upload(payload, f"input {index}'s arguments"))


def _input_frame(batch: list[bytes], blobs: list[str | None]) -> bytes:
    head: dict[str, Any] = {"sizes": [len(payload) for payload in batch]}
    if any(blobs):
        head["blobs"] = blobs
    return pack_frame(head, batch)


class _Inputs:
    """The caller's inputs, encoded as they are taken (arguments over 2 MiB sent as blobs),
    in batches bounded by count and by bytes; `on_bad` says what an input that cannot be
    serialized becomes (it is numbered, and never sent)."""

    def __init__(
        self,
        items: Iterator[tuple[tuple[Any, ...], dict[str, Any]]],
        on_bad: Callable[[int, Exception], Protocol],
    ) -> None:
        self._items = items
        self._on_bad = on_bad
        self.taken = 0
        self._exhausted = False
        #: An input taken that did not fit the last batch.
        self._held: tuple[bytes, str | None] | None = None

    @property
    def done(self) -> bool:
        return self._exhausted and self._held is None

    def batch(
        self, count: int, max_bytes: int
    ) -> Generator[Any, Any, tuple[list[bytes], list[str | None]]]:
        """Up to `count` inputs within `max_bytes` (at least one), and what a slow iterator
        has yielded within `FLUSH_S`."""
        payloads: list[bytes] = []
        blobs: list[str | None] = []
        size, started = 0, time.monotonic()
        while len(payloads) < count and not self.done:
            if self._held is None:
                item = next(self._items, None)
                if item is None:
                    self._exhausted = True
                    break
                index, self.taken = self.taken, self.taken + 1
                try:
                    self._held = yield from _encoded(item, index)
                except Exception as exc:
                    yield from self._on_bad(index, exc)
                    continue
            payload, blob = self._held
            if payloads and size + len(payload) > max_bytes:
                break
            payloads.append(payload)
            blobs.append(blob)
            size += len(payload)
            self._held = None
            if time.monotonic() - started > FLUSH_S:
                break
        return payloads, blobs


def _not_serializable(index: int, exc: Exception) -> InvalidError:
    if isinstance(exc, InvalidError):
        return exc
    return InvalidError(f"input {index} could not be serialized: {exc!r}")


def spawn_calls(
    path: str,
    headers: dict[str, str],
    items: Iterator[tuple[tuple[Any, ...], dict[str, Any]]],
) -> Flow[list[str]]:
    """Start a call per input, `SPAWN_BATCH` to a request; returns their call ids in order.

    Raises:
        InvalidError: an input could not be serialized (the inputs before it were started).
    """
    parent_call_id = current_function_call_id()
    if parent_call_id:
        headers = {**headers, PARENT_CALL_HEADER: parent_call_id}

    def refuse(index: int, exc: Exception) -> Protocol:
        raise _not_serializable(index, exc)
        yield  # a generator, as `_Inputs` wants

    inputs = _Inputs(items, refuse)
    call_ids: list[str] = []
    while not inputs.done:
        batch, blobs = yield from inputs.batch(SPAWN_BATCH, BATCH_BYTES)
        while batch:
            # The gateway takes what its backlog has room for (429 when none: retried after a
            # pause); the rest go again.
            response = yield ApiRequest(
                "POST", f"{path}/calls/batch", content=_input_frame(batch, blobs), headers=headers
            )
            taken = [str(call_id) for call_id in response.json()["call_ids"]]
            call_ids += taken
            batch, blobs = batch[len(taken) :], blobs[len(taken) :]
    return call_ids


class _InFlight:
    """Inputs sent and not yet answered: how many, and their bytes (by the gateway's index)."""

    def __init__(self) -> None:
        self.sent = self.received = self.bytes = 0
        self._sizes: dict[int, int] = {}

    def add(self, payloads: list[bytes]) -> None:
        for payload in payloads:
            self._sizes[self.sent] = len(payload)
            self.sent += 1
            self.bytes += len(payload)

    def answered(self, gateway_index: int) -> None:
        self.received += 1
        self.bytes -= self._sizes.pop(gateway_index, 0)


def _map_protocol(
    path: str,
    headers: dict[str, str],
    items: Iterator[tuple[tuple[Any, ...], dict[str, Any]]],
    order_outputs: bool,
    state: Session,
) -> Protocol:
    # The same map, should the request be sent again after a dropped connection.
    opening = {**headers, IDEMPOTENCY_HEADER: uuid.uuid4().hex}
    response = yield ApiRequest("POST", f"{path}/maps", json={"format": "pickle"}, headers=opening)
    opened = response.json()
    state.id = str(opened["map_id"])
    state.idle_timeout(opened.get("idle_timeout_s"))
    # Within what this gateway takes in one request, and holds for one map.
    batch_bytes = min(BATCH_BYTES, int(opened.get("max_batch_bytes", BATCH_BYTES)))
    bytes_in_flight = min(BYTES_IN_FLIGHT, int(opened.get("max_input_bytes", BYTES_IN_FLIGHT)))
    base = _map_path(state.id)
    order = _Order(order_outputs)

    def fail_alone(index: int, exc: Exception) -> Protocol:
        # That input fails alone; it is never sent, so the gateway's numbering skips it.
        order.skip(index)
        yield from order.hand_out(Emit(index, _not_serializable(index, exc), True))

    inputs = _Inputs(items, fail_alone)
    flight = _InFlight()
    after = 0

    def room() -> tuple[int, int]:
        # Outputs held back in order count too, so one slow input bounds what is read ahead.
        count = WINDOW - (flight.sent - flight.received) - order.parked
        return count, bytes_in_flight - flight.bytes

    while not inputs.done or flight.received < flight.sent:
        count, free_bytes = room()
        if not inputs.done and count > 0 and (free_bytes > 0 or not flight.bytes):
            batch, blobs = yield from inputs.batch(
                min(count, BATCH), max(1, min(free_bytes, batch_bytes))
            )
            if batch:
                yield ApiRequest("POST", f"{base}/inputs", content=_input_frame(batch, blobs))
                flight.add(batch)
        if flight.received == flight.sent:
            continue
        count, free_bytes = room()
        more_to_send = not inputs.done and count > 0 and free_bytes > 0
        wait_s = 0.0 if more_to_send else READ_WAIT_S
        response = yield ApiRequest(
            "GET",
            f"{base}/outputs",
            params={"after": after, "timeout_s": wait_s},
            wait_s=wait_s,
        )
        emits, last = yield from _outputs(response)
        if emits:
            after = last
        for emit in emits:
            flight.answered(emit.index)
            yield from order.hand_out(emit, gateway_index=True)
    state.done = True
    yield ApiRequest("DELETE", base)


def _map_path(map_id: str) -> str:
    return f"/v1/maps/{quote(map_id, safe='')}"


def _requests(state: Session) -> tuple[Closer, Closer]:
    return session_requests(state, _map_path, lambda map_id: f"{_map_path(map_id)}/touch")


def iterate(
    path: str,
    headers: dict[str, str],
    inputs: Iterable[tuple[tuple[Any, ...], dict[str, Any]]],
    *,
    order_outputs: bool = True,
    return_exceptions: bool = False,
) -> Iterator[Any]:
    """Run a map with blocking requests, yielding each output as it may be handed out."""
    state = Session()
    protocol = _map_protocol(path, headers, iter(inputs), order_outputs, state)
    close, touch = _requests(state)
    return drive(protocol, close, return_exceptions, touch, state)


def iterate_async(
    path: str,
    headers: dict[str, str],
    inputs: Iterable[tuple[tuple[Any, ...], dict[str, Any]]],
    *,
    order_outputs: bool = True,
    return_exceptions: bool = False,
) -> AsyncIterator[Any]:
    """`iterate` on the running event loop."""
    state = Session()
    protocol = _map_protocol(path, headers, iter(inputs), order_outputs, state)
    close, touch = _requests(state)
    return drive_async(protocol, close, return_exceptions, touch, state)


class Mapper:
    """`f.map(...)` (also `starmap`, `for_each`) with its `.aio` twin."""

    def __init__(self, path: str, headers: dict[str, str], kind: str) -> None:
        self._path = path
        self._headers = headers
        self._kind = kind

    def _inputs(
        self, iterables: tuple[Iterable[Any], ...], kwargs: dict[str, Any]
    ) -> Iterator[tuple[tuple[Any, ...], dict[str, Any]]]:
        if self._kind == "starmap":
            (tuples,) = iterables
            return ((tuple(args), kwargs) for args in tuples)
        return ((args, kwargs) for args in zip(*iterables, strict=False))

    def __call__(
        self,
        *iterables: Iterable[Any],
        kwargs: dict[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        ignore_exceptions: bool = False,
    ) -> Any:
        failures = return_exceptions or ignore_exceptions
        outputs = self._start(iterate, iterables, kwargs, order_outputs, failures)
        if self._kind != "for_each":
            return outputs
        for _ in outputs:
            pass
        return None

    def aio(
        self,
        *iterables: Iterable[Any],
        kwargs: dict[str, Any] | None = None,
        order_outputs: bool = True,
        return_exceptions: bool = False,
        ignore_exceptions: bool = False,
    ) -> Any:
        failures = return_exceptions or ignore_exceptions
        outputs = self._start(iterate_async, iterables, kwargs, order_outputs, failures)
        if self._kind != "for_each":
            return outputs

        async def drain() -> None:
            async for _ in outputs:
                pass

        return drain()

    def _start(
        self,
        run: Callable[..., Any],
        iterables: tuple[Iterable[Any], ...],
        kwargs: dict[str, Any] | None,
        order_outputs: bool,
        return_exceptions: bool,
    ) -> Any:
        """The map's outputs, as `run` (`iterate` or `iterate_async`) drives it."""
        return run(
            self._path,
            self._headers,
            self._inputs(iterables, kwargs or {}),
            order_outputs=order_outputs and self._kind != "for_each",
            return_exceptions=return_exceptions,
        )
