"""Generator functions: `remote_gen` streams values as they are yielded, `.aio` too, maps
flatten them, and HTTP callers read them as NDJSON or server-sent events."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import wharf as modal

from tests.helpers import RunningGateway, scaled, serving_app, wait_until

GENERATOR_APP = """
    import asyncio
    import time
    from pathlib import Path

    import wharf as modal

    app = modal.App("generators")
    GATE = Path("@GATE@")


    @app.function()
    def count(n: int):
        for i in range(n):
            yield i


    @app.function()
    async def count_async(n: int):
        for i in range(n):
            await asyncio.sleep(0)
            yield {"i": i}


    @app.function()
    def waits_for_the_gate():
        yield "before"
        while not GATE.exists():
            time.sleep(0.01)
        yield "after"


    @app.function()
    def fails_midway():
        yield 1
        raise ValueError("broke after the first value")


    @app.function()
    def endless():
        i = 0
        while True:
            yield i
            i += 1
"""


@pytest.fixture
def generators(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RunningGateway, Path]]:
    gate = tmp_path / "gate"
    source = GENERATOR_APP.replace("@GATE@", str(gate))
    with serving_app(tmp_path, monkeypatch, source) as gateway:
        yield gateway, gate


def function(name: str) -> modal.Function:
    return modal.Function.from_name("generators", name)


def test_remote_gen_yields_every_value_in_order(generators: tuple[RunningGateway, Path]) -> None:
    assert function("count").is_generator
    assert list(function("count").remote_gen(5)) == [0, 1, 2, 3, 4]
    assert list(function("count").remote_gen(2500)) == list(range(2500))
    assert list(function("count").remote_gen(0)) == []


def test_values_arrive_while_the_generator_still_runs(
    generators: tuple[RunningGateway, Path],
) -> None:
    _, gate = generators
    values = function("waits_for_the_gate").remote_gen()
    assert next(values) == "before"  # the generator is still waiting for the gate
    gate.touch()
    assert list(values) == ["after"]


def test_an_async_generator_and_the_aio_twin(generators: tuple[RunningGateway, Path]) -> None:
    async def main() -> list[dict[str, int]]:
        return [value async for value in function("count_async").remote_gen.aio(3)]

    assert asyncio.run(main()) == [{"i": 0}, {"i": 1}, {"i": 2}]


def test_an_exception_midway_comes_after_the_values_before_it(
    generators: tuple[RunningGateway, Path],
) -> None:
    values = function("fails_midway").remote_gen()
    assert next(values) == 1
    with pytest.raises(ValueError, match="broke after the first value"):
        next(values)


def test_remote_and_spawn_of_a_generator_are_refused_clearly(
    generators: tuple[RunningGateway, Path],
) -> None:
    with pytest.raises(modal.InvalidError, match="remote_gen"):
        function("count").remote(3)
    with pytest.raises(modal.InvalidError, match="remote_gen"):
        function("count").spawn(3)


def test_a_map_over_a_generator_function_flattens_its_values(
    generators: tuple[RunningGateway, Path],
) -> None:
    assert list(function("count").map([2, 3])) == [0, 1, 0, 1, 2]


def test_leaving_early_cancels_the_call(generators: tuple[RunningGateway, Path]) -> None:
    endless = function("endless")
    values = endless.remote_gen()
    assert [next(values) for _ in range(3)] == [0, 1, 2]
    values.close()  # type: ignore[attr-defined]
    wait_until(lambda: endless.get_current_stats().num_running_inputs == 0, timeout_s=20)


def test_an_http_caller_that_leaves_mid_stream_cancels_the_call(
    generators: tuple[RunningGateway, Path],
) -> None:
    gateway, _ = generators
    url = f"{gateway.url}/v1/apps/generators/functions/endless/calls"
    with httpx.stream(
        "POST", url, json={}, headers={"authorization": gateway.authorization}, timeout=30
    ) as response:
        assert orjson.loads(next(response.iter_lines())) == {"index": 0, "result": 0}
    endless = function("endless")
    wait_until(lambda: endless.get_current_stats().num_running_inputs == 0, timeout_s=20)


def test_http_callers_read_ndjson_or_server_sent_events(
    generators: tuple[RunningGateway, Path],
) -> None:
    gateway, _ = generators
    url = f"{gateway.url}/v1/apps/generators/functions/count/calls"
    auth = {"authorization": gateway.authorization}
    response = httpx.post(url, json={"args": [3]}, headers=auth, timeout=scaled(30))
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert [orjson.loads(line) for line in response.content.splitlines()] == [
        {"index": 0, "result": 0},
        {"index": 1, "result": 1},
        {"index": 2, "result": 2},
    ]
    events = httpx.post(
        url, json={"args": [2]}, headers={**auth, "accept": "text/event-stream"}, timeout=scaled(30)
    )
    assert events.headers["content-type"].startswith("text/event-stream")
    assert events.text == "data: 0\n\ndata: 1\n\n"
    failing = httpx.post(
        f"{gateway.url}/v1/apps/generators/functions/fails_midway/calls",
        json={},
        headers=auth,
        timeout=scaled(30),
    )
    lines = [orjson.loads(line) for line in failing.content.splitlines()]
    assert lines[0] == {"index": 0, "result": 1}
    assert "broke after the first value" in lines[1]["error"]["message"]
