"""`Function.map`, `starmap`, `for_each`, `spawn_map` and their `.aio` twins, end to end."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import client as modal
from tests.helpers import RunningGateway, scaled, serving_app, wait_until

MAP_APP = """
    import time

    import client as modal

    app = modal.App("mapper")


    @app.function()
    def square(x: int) -> int:
        return x * x


    @app.function()
    def add(a: int, b: int, scale: int = 1) -> int:
        return (a + b) * scale


    @app.function(max_containers=2)
    @modal.concurrent(max_inputs=4)
    def slow_inverse(x: float) -> float:
        time.sleep(0.05 * (x % 3))
        return 1 / x


    @app.function()
    def touch(path: str) -> None:
        open(path, "a").close()
"""


@pytest.fixture
def mapper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    with serving_app(tmp_path, monkeypatch, MAP_APP) as gateway:
        yield gateway


def test_map_returns_one_result_per_input_in_order(mapper: RunningGateway) -> None:
    square = modal.Function.from_name("mapper", "square")
    assert list(square.map(range(5000))) == [x * x for x in range(5000)]
    assert list(square.map([])) == []


def test_map_in_completion_order_and_with_exceptions(mapper: RunningGateway) -> None:
    inverse = modal.Function.from_name("mapper", "slow_inverse")
    unordered = list(inverse.map([1, 2, 3, 4, 5, 6], order_outputs=False))
    assert sorted(unordered) == sorted(1 / x for x in [1, 2, 3, 4, 5, 6])
    results = list(inverse.map([1, 0, 2], return_exceptions=True))
    assert results[0] == 1.0
    assert results[2] == 0.5
    assert isinstance(results[1], ZeroDivisionError)
    with pytest.raises(ZeroDivisionError):
        list(inverse.map([1, 0, 2]))


def test_starmap_kwargs_and_for_each(mapper: RunningGateway, tmp_path: Path) -> None:
    add = modal.Function.from_name("mapper", "add")
    assert list(add.starmap([(1, 2), (3, 4)], kwargs={"scale": 10})) == [30, 70]
    assert list(add.map([1, 2], [10, 20])) == [11, 22]
    touch = modal.Function.from_name("mapper", "touch")
    paths = [str(tmp_path / f"touched-{i}") for i in range(20)]
    assert touch.for_each(paths) is None
    assert all(Path(path).exists() for path in paths)
    inverse = modal.Function.from_name("mapper", "slow_inverse")
    inverse.for_each([0, 1], ignore_exceptions=True)
    with pytest.raises(ZeroDivisionError):
        inverse.for_each([0, 1])


def test_an_endless_generator_is_read_lazily(mapper: RunningGateway) -> None:
    square = modal.Function.from_name("mapper", "square")
    pulled = 0

    def numbers() -> Iterator[int]:
        nonlocal pulled
        for number in itertools.count():
            pulled += 1
            yield number

    for result in square.map(numbers()):
        if result >= 100 * 100:
            break
    # Only a bounded window was read ahead of the results taken.
    assert 101 <= pulled <= 101 + 20_000


def test_leaving_a_map_early_ends_it_on_the_gateway(mapper: RunningGateway) -> None:
    square = modal.Function.from_name("mapper", "square")
    outputs = square.map(range(100_000))
    assert next(iter(outputs)) == 0
    outputs.close()
    stats = square.get_current_stats
    wait_until(lambda: stats().backlog == 0, timeout_s=10)


def test_map_aio(mapper: RunningGateway) -> None:
    add = modal.Function.from_name("mapper", "add")

    async def main() -> list[int]:
        results = [x async for x in add.map.aio([1, 2, 3], [1, 1, 1])]
        await add.for_each.aio([1], [2])
        return results

    assert asyncio.run(main()) == [2, 3, 4]


def test_spawn_map_starts_calls(mapper: RunningGateway) -> None:
    calls = modal.Function.from_name("mapper", "square").spawn_map([2, 3])
    assert [call.get(timeout=scaled(20)) for call in calls] == [4, 9]


def test_bad_map_requests_are_clear(mapper: RunningGateway) -> None:
    headers = {"authorization": mapper.authorization}
    base = f"{mapper.url}/v1/apps/mapper/functions/square/maps"
    opened = httpx.post(base, json={"format": "json"}, headers=headers)
    assert opened.status_code == 201
    map_id = opened.json()["map_id"]
    bad = httpx.post(f"{mapper.url}/v1/maps/{map_id}/inputs", content=b"xx", headers=headers)
    assert bad.status_code == 400
    assert "not an input frame" in bad.json()["error"]["message"]
    unknown = httpx.get(f"{mapper.url}/v1/maps/map-nope/outputs", headers=headers)
    assert unknown.status_code == 404
    assert httpx.delete(f"{mapper.url}/v1/maps/{map_id}", headers=headers).status_code == 200
    assert httpx.delete(f"{mapper.url}/v1/maps/{map_id}", headers=headers).status_code == 404
