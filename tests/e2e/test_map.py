"""`Function.map`, `starmap`, `for_each`, `spawn_map` and their `.aio` twins, end to end."""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import wharf as modal
from wharf_gateway.calls.maps import MAX_MAPS_PER_WORKSPACE

from tests.helpers import RunningGateway, scaled, serving_app, wait_until

MAP_APP = """
    import time

    import wharf as modal

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


    @app.function()
    def crash_once(x: int, marker: str, at: int = 7, always: bool = False) -> int:
        import os
        from pathlib import Path

        if x == at and (always or not Path(marker).exists()):
            Path(marker).write_text("crashed")
            os._exit(1)
        return x


    @app.function(max_containers=3)
    def sleeper(seconds: float, marker: str) -> float:
        time.sleep(seconds)
        if seconds:
            open(marker, "w").close()
        return seconds


    @app.function(max_containers=1)
    def slow(x: int) -> int:
        time.sleep(0.2)
        return x
"""


@pytest.fixture
def mapper(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    with serving_app(
        tmp_path, monkeypatch, MAP_APP, map_idle_timeout_s=1.0, max_backlog=50
    ) as gateway:
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


def test_leaving_a_map_stops_the_inputs_it_left_running(
    mapper: RunningGateway, tmp_path: Path
) -> None:
    sleeper = modal.Function.from_name("mapper", "sleeper")
    outputs = sleeper.map([0.0] + [60.0] * 3, kwargs={"marker": str(tmp_path / "done")})
    assert next(iter(outputs)) == 0.0
    wait_until(lambda: sleeper.get_current_stats().num_running_inputs >= 1, timeout_s=30)
    outputs.close()
    # Their containers are stopped at once, not left to sleep out their minute.
    wait_until(lambda: sleeper.get_current_stats().num_running_inputs == 0, timeout_s=15)
    assert not (tmp_path / "done").exists()


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


def test_spawn_map_sends_batches_and_the_rest_when_the_backlog_fills(
    mapper: RunningGateway,
) -> None:
    # This gateway's backlog holds 50 calls: the batch is taken in parts, in order.
    inverse = modal.Function.from_name("mapper", "slow_inverse")
    calls = inverse.spawn_map(range(1, 131))
    assert len({call.object_id for call in calls}) == 130
    results = [call.get(timeout=scaled(60)) for call in calls]
    assert results == [1 / x for x in range(1, 131)]
    with pytest.raises(modal.exception.InvalidError, match="input 1 could not be serialized"):
        inverse.spawn_map([1, threading.Lock()])  # a lock cannot be pickled


def test_spawn_map_checks_its_batches(mapper: RunningGateway) -> None:
    batch = f"{mapper.url}/v1/apps/mapper/functions/square/calls/batch"
    headers = {"authorization": mapper.authorization}
    bad = httpx.post(batch, content=b"xx", headers=headers)
    assert bad.status_code == 400
    assert "not an input frame" in bad.json()["error"]["message"]
    from wharf.frames import pack_frame

    frame = pack_frame({"sizes": [13, 2], "format": "json"}, [b'{"args": [3]}', b"{}"])
    bad_args = httpx.post(batch, content=frame, headers=headers)
    assert bad_args.status_code == 400
    assert "missing a required argument" in bad_args.json()["error"]["message"]
    frame = pack_frame({"sizes": [13], "format": "json"}, [b'{"args": [3]}'])
    started = httpx.post(batch, content=frame, headers=headers)
    assert started.status_code == 202
    (call_id,) = started.json()["call_ids"]
    result = httpx.get(f"{mapper.url}/v1/calls/{call_id}", headers=headers, timeout=scaled(30))
    assert result.json() == 9
    unknown_format = pack_frame({"sizes": [], "format": "xml"}, [])
    assert httpx.post(batch, content=unknown_format, headers=headers).status_code == 400


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


def test_a_workspace_has_a_bounded_number_of_open_maps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with serving_app(tmp_path, monkeypatch, MAP_APP) as mapper:
        _open_maps_until_refused(mapper)


def _open_maps_until_refused(mapper: RunningGateway) -> None:
    headers = {"authorization": mapper.authorization}
    base = f"{mapper.url}/v1/apps/mapper/functions/square/maps"
    with httpx.Client(headers=headers) as http:
        opened = [http.post(base, json={"format": "json"}) for _ in range(MAX_MAPS_PER_WORKSPACE)]
        assert {response.status_code for response in opened} == {201}
        refused = http.post(base, json={"format": "json"})
        assert refused.status_code == 429
        assert refused.headers["retry-after"] == "1"
        assert (
            f"already has {MAX_MAPS_PER_WORKSPACE} maps open" in refused.json()["error"]["message"]
        )
        http.delete(f"{mapper.url}/v1/maps/{opened[0].json()['map_id']}")
        assert http.post(base, json={"format": "json"}).status_code == 201


def test_an_input_that_cannot_be_serialized_fails_alone(mapper: RunningGateway) -> None:
    square = modal.Function.from_name("mapper", "square")
    # A lambda pickles (cloudpickle); a generator object does not.
    inputs: list[object] = [1, (x for x in range(0)), 3]
    results = list(square.map(inputs, return_exceptions=True))
    assert results[0] == 1
    assert results[2] == 9
    assert isinstance(results[1], modal.InvalidError)
    assert "input 1 could not be serialized" in str(results[1])


def test_an_input_that_crashes_its_container_is_retried(
    mapper: RunningGateway, tmp_path: Path
) -> None:
    crash_once = modal.Function.from_name("mapper", "crash_once")
    marker = str(tmp_path / "crashed")
    assert list(crash_once.map(range(20), kwargs={"marker": marker})) == list(range(20))
    assert Path(marker).exists()
    # Once the inputs are known to be fast they go in batches: a crash in one charges only
    # its own input (the others run again, alone, uncharged), so every input still succeeds.
    again = str(tmp_path / "crashed-again")
    assert list(crash_once.map(range(3000), kwargs={"marker": again, "at": -1})) == list(
        range(3000)
    )
    results = list(crash_once.map(range(3000), kwargs={"marker": again, "at": 2500}))
    assert results == list(range(3000))
    assert Path(again).exists()
    # An input that always kills its container fails alone; its batch-mates are not blamed.
    doomed = crash_once.map(
        range(3000), kwargs={"marker": again, "at": 1500, "always": True}, return_exceptions=True
    )
    results = list(doomed)
    assert isinstance(results[1500], modal.Error)
    assert "stopped unexpectedly" in str(results[1500])
    assert results[:1500] + results[1501:] == [x for x in range(3000) if x != 1500]


def test_a_caller_that_goes_away_frees_its_inputs(mapper: RunningGateway, tmp_path: Path) -> None:
    script = tmp_path / "leaves.py"
    script.write_text(
        "import os, wharf as modal\n"
        "for x in modal.Function.from_name('mapper', 'slow').map(range(500)):\n"
        "    os._exit(0)  # gone without a word\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        env={**os.environ, **mapper.client_environment},
        capture_output=True,
        timeout=scaled(60),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    slow = modal.Function.from_name("mapper", "slow")
    assert slow.get_current_stats().backlog > 0
    # Unread for a second (this gateway's map idle timeout), the map ends: nothing waits.
    wait_until(lambda: slow.get_current_stats().backlog == 0, timeout_s=10)


def test_ndjson_map_streams_results_for_curl(mapper: RunningGateway) -> None:
    lines = b"\n".join(
        [
            b'{"args": [3]}',
            b'{"kwargs": {"x": 4}}',
            b"not json",
            b'{"args": [1, 2]}',
            b'{"args": [5]}',
        ]
    )
    response = httpx.post(
        f"{mapper.url}/v1/apps/mapper/functions/square/map",
        content=lines + b"\n",
        headers={"authorization": mapper.authorization, "content-type": "application/x-ndjson"},
        timeout=scaled(30),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    by_index = {item["index"]: item for item in map(orjson.loads, response.content.splitlines())}
    assert sorted(by_index) == [0, 1, 2, 3, 4]
    assert [by_index[i].get("result") for i in (0, 1, 4)] == [9, 16, 25]
    assert "not valid JSON" in by_index[2]["error"]["message"]
    assert "too many positional arguments" in by_index[3]["error"]["message"]


def test_ndjson_map_of_a_failing_function_reports_each_error(mapper: RunningGateway) -> None:
    response = httpx.post(
        f"{mapper.url}/v1/apps/mapper/functions/slow_inverse/map",
        content=b'{"args": [2]}\n{"args": [0]}\n',
        headers={"authorization": mapper.authorization},
        timeout=scaled(30),
    )
    items = sorted(map(orjson.loads, response.content.splitlines()), key=lambda i: i["index"])
    assert items[0] == {"index": 0, "result": 0.5}
    assert items[1]["error"]["code"] == "function_failed"
    assert "ZeroDivisionError" in items[1]["error"]["message"]


def test_a_caller_busy_between_reads_keeps_its_map(mapper: RunningGateway) -> None:
    # This gateway ends maps unread for 1 s; the client's heartbeat (every third of that)
    # keeps a map whose caller spends longer than that on each output.
    square = modal.Function.from_name("mapper", "square")
    results = []
    for result in square.map(range(3)):
        results.append(result)
        time.sleep(1.5)
    assert results == [0, 1, 4]


def test_a_big_map_leaves_room_for_ordinary_calls(mapper: RunningGateway) -> None:
    # This gateway lets 50 inputs of a function wait; a map's inputs are bounded by its window.
    slow = modal.Function.from_name("mapper", "slow")
    outputs = slow.map(range(500))
    try:
        assert next(iter(outputs)) == 0
        assert slow.get_current_stats().backlog > 50
        call = slow.spawn(7)  # accepted: the map's inputs are not the function's backlog
    finally:
        outputs.close()  # the map's waiting inputs are dropped; the call runs next
    assert call.get(timeout=scaled(30)) == 7
