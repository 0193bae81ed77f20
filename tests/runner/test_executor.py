"""Running one input: values, user exceptions and undecodable arguments all become an Output."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import orjson
from wharf import current_function_call_id, current_input_id
from wharf.serialization import deserialize, serialize, serialize_arguments
from wharf_runner.agent.executor import execute
from wharf_runner.channel.envelope import Input, Output, OutputStatus, PayloadFormat


def _json_input(args: list[Any], kwargs: dict[str, Any] | None = None) -> Input:
    payload = orjson.dumps({"args": args, "kwargs": kwargs or {}})
    return Input("in-1", "fc-1", "f", PayloadFormat.JSON, payload, True, False)


def _pickle_input(*args: Any, **kwargs: Any) -> Input:
    payload = serialize_arguments(args, kwargs)
    return Input("in-1", "fc-1", "f", PayloadFormat.PICKLE, payload, True, True)


def _run(function: Callable[..., Any], item: Input) -> Output:
    return asyncio.run(execute(function, item))


def add(a: int, b: int = 0) -> int:
    return a + b


async def add_later(a: int, b: int = 0) -> int:
    await asyncio.sleep(0)
    return a + b


def reject_cart(cart: list[str]) -> None:
    raise ValueError(f"cart of {len(cart)} items is over the limit")


def test_sync_function_result_is_a_success_with_json() -> None:
    output = _run(add, _json_input([2], {"b": 3}))

    assert output == Output(OutputStatus.SUCCESS, None, b"5", None, None)


def test_async_function_is_awaited() -> None:
    output = _run(add_later, _json_input([2, 3]))

    assert (output.status, output.json) == (OutputStatus.SUCCESS, b"5")


def test_empty_json_payload_means_no_arguments() -> None:
    item = Input("in-1", "fc-1", "f", PayloadFormat.JSON, b"", True, False)

    assert _run(lambda: "pong", item).json == b'"pong"'


def test_sync_function_runs_off_the_event_loop_thread() -> None:
    def thread_name() -> str:
        return threading.current_thread().name

    output = _run(thread_name, _json_input([]))

    assert output.json != orjson.dumps(threading.current_thread().name)


def test_pickled_arguments_are_decoded_and_result_pickled() -> None:
    output = _run(add, _pickle_input(40, b=2))

    assert output.status is OutputStatus.SUCCESS
    assert output.pickled is not None
    assert deserialize(output.pickled) == 42
    assert output.json == b"42"


def test_user_exception_becomes_a_failure_output() -> None:
    output = _run(reject_cart, _pickle_input(["apple", "pear"]))

    assert output.status is OutputStatus.FAILURE
    assert output.json is None
    assert output.error is not None
    assert output.error.type == "ValueError"
    assert output.error.message == "cart of 2 items is over the limit"
    assert "in reject_cart" in output.error.traceback
    assert output.error.traceback.rstrip().endswith("ValueError: cart of 2 items is over the limit")
    assert output.pickled is not None
    rebuilt = deserialize(output.pickled)
    assert isinstance(rebuilt, ValueError)
    assert str(rebuilt) == "cart of 2 items is over the limit"


def test_failure_is_not_pickled_when_the_caller_is_not_python() -> None:
    output = _run(reject_cart, _json_input([["apple"]]))

    assert output.error is not None
    assert (output.status, output.pickled) == (OutputStatus.FAILURE, None)


def test_arguments_that_do_not_bind_are_a_failure() -> None:
    output = _run(add, _json_input([1, 2, 3]))

    assert output.error is not None
    assert (output.status, output.error.type) == (OutputStatus.FAILURE, "TypeError")


def test_undecodable_pickle_arguments_are_a_failure() -> None:
    item = Input("in-1", "fc-1", "f", PayloadFormat.PICKLE, b"not a pickle", False, True)

    output = _run(add, item)

    assert output.status is OutputStatus.FAILURE
    assert output.error is not None
    assert output.error.type == "ArgumentsError"
    assert "the call's arguments could not be decoded" in output.error.message


def test_undecodable_json_arguments_are_a_failure() -> None:
    item = Input("in-1", "fc-1", "f", PayloadFormat.JSON, b"[1, 2]", True, False)

    output = _run(add, item)

    assert output.error is not None
    assert (output.status, output.error.type) == (OutputStatus.FAILURE, "ArgumentsError")


def test_result_without_json_form_explains_why_and_is_still_pickled() -> None:
    output = _run(lambda: {"apple", "pear"}, _pickle_input())

    assert output.status is OutputStatus.SUCCESS
    assert output.json is None
    assert output.json_error is not None
    assert "the result of type 'set' cannot be encoded as JSON" in output.json_error
    assert output.pickled is not None
    assert deserialize(output.pickled) == {"apple", "pear"}


def test_result_that_cannot_be_pickled_is_a_failure() -> None:
    output = _run(threading.Lock, _pickle_input())

    assert output.status is OutputStatus.FAILURE
    assert output.error is not None
    assert output.error.type == "TypeError"
    assert "cannot be pickled" in output.error.message


def test_result_is_not_encoded_in_forms_nobody_asked_for() -> None:
    item = Input("in-1", "fc-1", "f", PayloadFormat.PICKLE, serialize(((), {})), False, False)

    assert _run(lambda: 1, item) == Output(OutputStatus.SUCCESS, None, None, None, None)


def _ids() -> list[str | None]:
    return [current_input_id(), current_function_call_id()]


async def _ids_later() -> list[str | None]:
    await asyncio.sleep(0)
    return _ids()


def test_sync_function_sees_its_input_and_call_ids() -> None:
    item = Input("in-7", "fc-9", "f", PayloadFormat.JSON, b"", True, False)

    assert _run(_ids, item).json == b'["in-7","fc-9"]'
    assert _ids() == [None, None]


def test_concurrent_async_inputs_each_see_their_own_ids() -> None:
    first = Input("in-1", "fc-1", "f", PayloadFormat.JSON, b"", True, False)
    second = Input("in-2", "fc-2", "f", PayloadFormat.JSON, b"", True, False)

    async def both() -> list[Output]:
        return list(await asyncio.gather(execute(_ids_later, first), execute(_ids_later, second)))

    outputs = asyncio.run(both())

    assert [output.json for output in outputs] == [b'["in-1","fc-1"]', b'["in-2","fc-2"]']


def test_inline_sync_function_runs_on_the_loop_thread_and_sees_its_ids() -> None:
    item = Input("in-7", "fc-9", "f", PayloadFormat.JSON, b"", True, False)

    def where() -> list[str | None]:
        return [threading.current_thread().name, *_ids()]

    async def main() -> Output:
        return await execute(where, item, inline=True)

    output = asyncio.run(main())

    assert output.json == orjson.dumps([threading.current_thread().name, "in-7", "fc-9"])
