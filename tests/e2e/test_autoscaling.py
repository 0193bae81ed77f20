"""Pools under load: concurrency, queueing past `max_containers`, buffers, targets, stats,
`update_autoscaler`, `with_options`, retries with backoff, and timeouts."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import wharf as modal
from wharf._apps import stop_app
from wharf._http import run_flow

from tests.helpers import (
    RunningGateway,
    deploy_file,
    scaled,
    serving_app,
    wait_until,
    write_app,
)

AUTOSCALE_APP = """
    import asyncio
    import os
    import threading
    import time
    from pathlib import Path

    import wharf as modal

    app = modal.App("autoscale")
    GATE = Path("@GATE@")


    def wait_for_gate():
        while not GATE.exists():
            time.sleep(0.01)


    @app.function(max_containers=1)
    @modal.concurrent(max_inputs=4)
    def held(i: int):
        wait_for_gate()
        return (i, os.getpid())


    @app.function(max_containers=1)
    @modal.concurrent(max_inputs=3)
    async def held_async(i: int):
        while not GATE.exists():
            await asyncio.sleep(0.01)
        return (i, os.getpid())


    #: More than any default thread pool has workers (at most 32): all meet at the barrier.
    CROWD = threading.Barrier(40, timeout=20)


    @app.function(max_containers=1)
    @modal.concurrent(max_inputs=40)
    def crowded(i: int):
        CROWD.wait()
        return i


    @app.function(max_containers=4)
    @modal.concurrent(max_inputs=4, target_inputs=2)
    def targeted(i: int):
        wait_for_gate()
        return i


    @app.function(buffer_containers=1, scaledown_window=2)
    def buffered():
        wait_for_gate()
        return "done"


    @app.function(scaledown_window=2)
    def scaled_by_hand():
        return os.getpid()


    @app.function(scaledown_window=2)
    def outlives_the_window():
        time.sleep(4)
        return "finished"


    @app.function(timeout=1)
    def too_slow(seconds: float):
        time.sleep(seconds)
        return "in time"


    def count_attempt(marker: str) -> int:
        with open(marker, "a") as attempts:
            ids = (modal.current_input_id(), modal.current_function_call_id())
            attempts.write(" ".join(ids) + "\\n")
        return len(Path(marker).read_text().splitlines())


    @app.function(retries=modal.Retries(max_retries=3, initial_delay=0.1, backoff_coefficient=2))
    def flaky(marker: str, failures: int):
        attempt = count_attempt(marker)
        if attempt <= failures:
            raise ValueError(f"attempt {attempt} failed")
        return attempt


    @app.function(retries=modal.Retries(max_retries=1, initial_delay=0))
    def raises_then_dies(marker: str):
        attempt = count_attempt(marker)
        if attempt == 1:
            raise ValueError("the function's own failure")
        if attempt == 2:
            os._exit(1)  # the container dies mid-input
        return attempt


    @app.function(retries=modal.Retries(max_retries=1, initial_delay=3))
    def slow_retry(marker: str):
        attempt = count_attempt(marker)
        if attempt == 1:
            raise ValueError("first attempt")
        return attempt


    @app.cls(scaledown_window=2, retries=modal.Retries(max_retries=1, initial_delay=3))
    class Retried:
        tag: str = modal.parameter()

        @modal.method()
        def attempt(self, marker: str):
            attempt = count_attempt(marker)
            if attempt == 1:
                raise ValueError("first attempt")
            return f"{self.tag}: {attempt}"


    @app.function(retries=1)
    def always_fails(marker: str):
        raise ValueError(f"attempt {count_attempt(marker)} failed")
"""


@pytest.fixture
def served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[RunningGateway, Path, str]]:
    gate = tmp_path / "gate"
    source = AUTOSCALE_APP.replace("@GATE@", str(gate))
    with serving_app(tmp_path, monkeypatch, source) as gateway:
        yield gateway, gate, source


@pytest.fixture
def autoscale(served: tuple[RunningGateway, Path, str]) -> Path:
    return served[1]


def stats(name: str) -> modal.FunctionStats:
    return modal.Function.from_name("autoscale", name).get_current_stats()


@pytest.mark.parametrize("name", ["held", "held_async"])
def test_a_container_runs_max_inputs_at_once_and_the_rest_queue(autoscale: Path, name: str) -> None:
    function = modal.Function.from_name("autoscale", name)
    max_inputs = 4 if name == "held" else 3
    calls = [function.spawn(i) for i in range(max_inputs + 3)]
    # Past max_containers=1 the burst queues instead of failing.
    wait_until(
        lambda: (
            stats(name)
            == modal.FunctionStats(
                backlog=3,
                num_active_runners=1,
                num_total_runners=1,
                num_running_inputs=max_inputs,
                headroom=0,
            )
        ),
        timeout_s=20,
    )
    autoscale.touch()
    results = [call.get(timeout=scaled(20)) for call in calls]
    assert [i for i, _ in results] == list(range(max_inputs + 3))
    assert len({pid for _, pid in results}) == 1


def test_a_sync_function_runs_all_its_max_inputs_at_once(autoscale: Path) -> None:
    # Before: sync inputs ran on the event loop's default thread pool, at most min(32,
    # cores + 4) at once (6 here), whatever max_inputs said: the 40 never met at the barrier.
    crowded = modal.Function.from_name("autoscale", "crowded")
    assert sorted(crowded.map(range(40))) == list(range(40))


def test_target_inputs_decides_how_many_containers_start(autoscale: Path) -> None:
    targeted = modal.Function.from_name("autoscale", "targeted")
    calls = [targeted.spawn(i) for i in range(4)]
    # Four inputs at a target of two per container: two containers, though one could hold all.
    wait_until(lambda: stats("targeted").num_total_runners == 2, timeout_s=20)
    wait_until(lambda: stats("targeted").num_running_inputs == 4, timeout_s=20)
    assert stats("targeted").num_total_runners == 2
    autoscale.touch()
    assert [call.get(timeout=scaled(20)) for call in calls] == [0, 1, 2, 3]


def test_buffer_containers_wait_idle_while_the_function_is_busy(autoscale: Path) -> None:
    call = modal.Function.from_name("autoscale", "buffered").spawn()
    wait_until(
        lambda: (s := stats("buffered")).num_running_inputs == 1 and s.num_total_runners == 2,
        timeout_s=20,
    )
    autoscale.touch()
    assert call.get(timeout=scaled(20)) == "done"
    # Once idle, the buffer goes too: down to zero after the window.
    wait_until(lambda: stats("buffered").num_total_runners == 0, timeout_s=20)


def test_update_autoscaler_changes_the_deployed_pool(autoscale: Path) -> None:
    function = modal.Function.from_name("autoscale", "scaled_by_hand")
    function.update_autoscaler(min_containers=2)
    wait_until(lambda: stats("scaled_by_hand").headroom == 2, timeout_s=20)
    function.update_autoscaler(min_containers=0, scaledown_window=2)
    wait_until(lambda: stats("scaled_by_hand").num_total_runners == 0, timeout_s=20)
    with pytest.raises(modal.InvalidError, match="scaledown_window"):
        function.update_autoscaler(scaledown_window=1)


def test_scale_down_never_stops_a_container_with_an_input_running(autoscale: Path) -> None:
    # The call runs twice as long as the window; the sweep passes it over until it is done.
    assert modal.Function.from_name("autoscale", "outlives_the_window").remote() == "finished"


def test_timeout_fails_the_input_and_the_next_call_gets_a_fresh_container(
    autoscale: Path,
) -> None:
    too_slow = modal.Function.from_name("autoscale", "too_slow")
    with pytest.raises(modal.exception.FunctionTimeoutError, match="timeout of 1 s"):
        too_slow.remote(30)
    assert too_slow.remote(0) == "in time"


def test_with_options_gets_its_own_pool_with_its_own_timeout(autoscale: Path) -> None:
    too_slow = modal.Function.from_name("autoscale", "too_slow")
    patient = too_slow.with_options(timeout=20)
    assert patient.remote(1.5) == "in time"
    with pytest.raises(modal.exception.FunctionTimeoutError):
        too_slow.remote(1.5)
    with pytest.raises(modal.InvalidError, match="unknown option"):
        too_slow.with_options(colour="blue")


def test_retries_back_off_and_keep_the_call_id(autoscale: Path, tmp_path: Path) -> None:
    marker = tmp_path / "attempts.txt"
    started = time.monotonic()
    assert modal.Function.from_name("autoscale", "flaky").remote(str(marker), 2) == 3
    assert time.monotonic() - started >= 0.1 + 0.2  # the two waits, the second one doubled
    attempts = [line.split() for line in marker.read_text().splitlines()]
    assert len({input_id for input_id, _ in attempts}) == 3  # a new input each time
    assert len({call_id for _, call_id in attempts}) == 1  # one call


def test_a_container_death_is_retried_even_after_the_retries_are_used(
    autoscale: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "attempts.txt"
    assert modal.Function.from_name("autoscale", "raises_then_dies").remote(str(marker)) == 3


def test_retries_run_out_and_the_last_exception_is_the_result(
    autoscale: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "attempts.txt"
    with pytest.raises(ValueError, match="attempt 2 failed"):
        modal.Function.from_name("autoscale", "always_fails").remote(str(marker))
    assert len(marker.read_text().splitlines()) == 2


def attempts(marker: Path) -> int:
    return len(marker.read_text().splitlines()) if marker.exists() else 0


def test_a_retry_outlasts_its_pools_scale_down(autoscale: Path, tmp_path: Path) -> None:
    # The wait (3 s) is longer than the window (2 s): the parameter set's pool is empty meanwhile.
    marker = tmp_path / "attempts.txt"
    retried = modal.Cls.from_name("autoscale", "Retried")(tag="kept")
    assert retried.attempt.remote(str(marker)) == "kept: 2"


def test_a_retry_waiting_through_a_redeploy_still_finishes(
    served: tuple[RunningGateway, Path, str], tmp_path: Path
) -> None:
    marker = tmp_path / "attempts.txt"
    call = modal.Function.from_name("autoscale", "slow_retry").spawn(str(marker))
    wait_until(lambda: attempts(marker) == 1, timeout_s=20)
    deploy_file(write_app(tmp_path, served[2], "again"))
    assert call.get(timeout=scaled(30)) == 2


def test_stopping_the_app_ends_a_call_waiting_to_retry(autoscale: Path, tmp_path: Path) -> None:
    marker = tmp_path / "attempts.txt"
    call = modal.Function.from_name("autoscale", "slow_retry").spawn(str(marker))
    wait_until(lambda: attempts(marker) == 1, timeout_s=20)
    run_flow(stop_app("autoscale"))
    with pytest.raises(modal.Error, match="was stopped"):
        call.get(timeout=scaled(2))
    assert attempts(marker) == 1


def test_bad_variant_headers_are_400_and_impossible_overrides_are_refused(
    served: tuple[RunningGateway, Path, str],
) -> None:
    gateway = served[0]
    url = f"{gateway.url}/v1/apps/autoscale/functions/scaled_by_hand/calls"
    auth = {"authorization": gateway.authorization}
    cases = [
        ({"wharf-parameters": "yaml abc"}, "must start with"),
        ({"wharf-parameters": "json %%%"}, "not base64"),
        ({"wharf-options": "{not json"}, "not JSON"),
        ({"wharf-options": '{"max_inputs": 4}'}, "cannot be changed per call"),
        ({"wharf-options": '{"timeout_s": 0}'}, "between 1"),
        ({"wharf-options": '{"colour": "blue"}'}, "unknown option"),
    ]
    for headers, message in cases:
        response = httpx.post(url, json={}, headers={**auth, **headers})
        assert response.status_code == 400, (headers, response.text)
        assert message in response.json()["error"]["message"]
    scaled_by_hand = modal.Function.from_name("autoscale", "scaled_by_hand")
    with pytest.raises(modal.exception.NoCapacityError, match="H100"):
        scaled_by_hand.with_options(gpu="H100").remote()
