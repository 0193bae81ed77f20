"""`Function.local()`: the function runs in this process as plain Python, whatever its kind."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import wharf as modal

app = modal.App("local-kinds")


@app.function()
def square(x: int) -> int:
    return x * x


@app.function()
async def async_square(x: int) -> int:
    await asyncio.sleep(0)
    return x * x


@app.function()
def count_to(n: int) -> Iterator[int]:
    yield from range(1, n + 1)


@app.function()
async def async_count_to(n: int) -> AsyncIterator[int]:
    for i in range(1, n + 1):
        await asyncio.sleep(0)
        yield i


def test_plain_and_async_functions_return_their_value() -> None:
    assert square.local(3) == 9
    assert async_square.local(4) == 16


def test_a_generator_functions_local_call_returns_its_generator() -> None:
    # Before: `RuntimeError: Task got bad yield` (asyncio took the generator for a coroutine).
    assert list(count_to.local(3)) == [1, 2, 3]


def test_an_async_generator_functions_local_call_returns_its_async_generator() -> None:
    async def collect() -> list[int]:
        return [value async for value in async_count_to.local(3)]

    assert asyncio.run(collect()) == [1, 2, 3]
