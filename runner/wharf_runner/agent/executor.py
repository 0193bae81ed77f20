"""Running one input of a user function and turning whatever happens into an `Output`."""

from __future__ import annotations

import asyncio
import inspect
import traceback
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson
from wharf.container import running_input
from wharf.serialization import deserialize, serialize

from wharf_runner.channel.envelope import ErrorInfo, Input, Output, OutputStatus, PayloadFormat
from wharf_runner.errors import ArgumentsError

#: Tracebacks longer than this keep their end, where the error is.
MAX_TRACEBACK_BYTES = 16_384


def decode_arguments(item: Input) -> tuple[tuple[Any, ...], dict[str, Any]]:
    try:
        if item.payload_format is PayloadFormat.PICKLE:
            args, kwargs = deserialize(item.payload)
        else:
            decoded = orjson.loads(item.payload) if item.payload else {}
            args, kwargs = decoded.get("args", []), decoded.get("kwargs", {})
    except Exception as exc:
        raise ArgumentsError(f"the call's arguments could not be decoded: {exc}") from exc
    return tuple(args), dict(kwargs)


def _trimmed_traceback(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc))
    encoded = text.encode()
    if len(encoded) <= MAX_TRACEBACK_BYTES:
        return text
    return "...\n" + encoded[-MAX_TRACEBACK_BYTES:].decode(errors="replace")


def _text(make: Callable[[], str]) -> str:
    """A string that is safe to encode as JSON, whatever the user's `__str__` does."""
    try:
        text = make()
    except Exception as exc:  # a user's __str__ that raises still gets reported
        text = f"<unprintable: {type(exc).__name__}>"
    return text.encode("utf-8", "replace").decode("utf-8")


def failure_output(exc: BaseException, item: Input) -> Output:
    error = ErrorInfo(
        type=type(exc).__qualname__,
        message=_text(lambda: str(exc)),
        traceback=_text(lambda: _trimmed_traceback(exc)),
    )
    pickled = None
    if item.wants_pickle:
        try:
            pickled = serialize(exc)
        except Exception:
            pickled = None
    return Output(OutputStatus.FAILURE, pickled, None, None, error)


def success_output(value: object, item: Input) -> Output:
    pickled = json_bytes = json_error = None
    if item.wants_json:
        try:
            json_bytes = orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError as exc:
            json_error = (
                f"the result of type {type(value).__name__!r} cannot be encoded as JSON ({exc}); "
                "return JSON-compatible data, or call the function from Python"
            )
    if item.wants_pickle:
        try:
            pickled = serialize(value)
        except Exception as exc:
            return failure_output(
                TypeError(f"the result of type {type(value).__name__!r} cannot be pickled: {exc}"),
                item,
            )
    return Output(OutputStatus.SUCCESS, pickled, json_bytes, json_error, None)


_DONE = object()


async def _iterate(
    function: Callable[..., Any],
    item: Input,
    on_value: Callable[[Any], Awaitable[None]],
    inline: bool,
) -> Output:
    """Run a generator function's input, awaiting `on_value` for each value it yields;
    returns the final output (a success without a value, or the exception)."""
    try:
        args, kwargs = decode_arguments(item)
        with running_input(item.input_id, item.call_id):
            values = function(*args, **kwargs)
            if inspect.isasyncgen(values):
                async for value in values:
                    await on_value(value)
            elif inspect.isgenerator(values):
                while True:
                    value = next(values, _DONE) if inline else await _next_in_thread(values)
                    if value is _DONE:
                        break
                    await on_value(value)
            else:
                raise TypeError(f"{item.function_name} is not a generator function")
    except Exception as exc:
        return failure_output(exc, item)
    return success_output(None, item)


async def _next_in_thread(values: Iterator[Any]) -> Any:
    return await asyncio.to_thread(next, values, _DONE)


async def execute_stream(
    function: Callable[..., Any],
    item: Input,
    emit: Callable[[Output], Awaitable[None]],
    *,
    inline: bool = False,
) -> Output:
    """Run a generator function's input, passing each value to `emit` as an output as soon
    as it is yielded (`emit` may wait while the caller reads slowly)."""

    async def on_value(value: Any) -> None:
        await emit(success_output(value, item))

    return await _iterate(function, item, on_value, inline)


async def collect(function: Callable[..., Any], item: Input, *, inline: bool = False) -> Output:
    """Run a generator function's input to its end; the output is the list of its values
    (how a map over a generator function gets them, flattened by the caller)."""
    values: list[Any] = []

    async def keep(value: Any) -> None:
        values.append(value)

    outcome = await _iterate(function, item, keep, inline)
    return outcome if outcome.status is OutputStatus.FAILURE else success_output(values, item)


async def execute(function: Callable[..., Any], item: Input, *, inline: bool = False) -> Output:
    """Run one input; a user exception is the output, never raised.

    A sync function runs on a worker thread, or right on the loop with `inline` (when the
    container takes one input at a time and the loop has nothing else to do meanwhile).
    """
    try:
        args, kwargs = decode_arguments(item)
        with running_input(item.input_id, item.call_id):
            if inspect.iscoroutinefunction(function):
                value = await function(*args, **kwargs)
            elif inline:
                value = function(*args, **kwargs)
            else:
                value = await asyncio.to_thread(function, *args, **kwargs)
    except Exception as exc:
        return failure_output(exc, item)
    return success_output(value, item)
