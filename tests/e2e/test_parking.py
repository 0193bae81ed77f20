"""Calls past what a pool holds in memory wait in the store and come back in order of arrival:
each reaches one result, callers wait for parked calls as for any, and a parked call can be
cancelled. (The pool's memory is shrunk to a few calls here; a million is `bench/pending.py`'s.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import wharf as modal
import wharf_gateway.calls.parking as parking

from tests.helpers import RunningGateway, scaled, serving_app, wait_until

PARKING_APP = """
    import time
    from pathlib import Path

    import wharf as modal

    app = modal.App("parking-app")


    @app.function(max_containers=1)
    def step(gate: str, log: str, n: int) -> int:
        while not Path(gate).exists():
            time.sleep(0.01)
        with open(log, "a") as order:
            order.write(f"{n}\\n")
        return n * n
"""
CALLS = 120


@pytest.fixture
def parked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningGateway]:
    monkeypatch.setattr(parking, "MEMORY_QUEUE", 20)
    monkeypatch.setattr(parking, "PAGE", 8)
    with serving_app(tmp_path, monkeypatch, PARKING_APP) as gateway:
        yield gateway


def test_parked_calls_run_once_each_in_order_of_arrival(
    parked: RunningGateway, tmp_path: Path
) -> None:
    gate, log = tmp_path / "gate", tmp_path / "order.log"
    step = modal.Function.from_name("parking-app", "step")
    calls = [step.spawn(str(gate), str(log), n) for n in range(CALLS)]
    # Most wait in the store, and count toward the backlog all the same.
    wait_until(lambda: step.get_current_stats().backlog >= CALLS - 2, timeout_s=scaled(20))
    url = f"{parked.url}/v1/calls/{calls[-1].object_id}"
    headers = {"authorization": parked.authorization}
    # A caller of a parked call waits as for any call.
    assert httpx.get(url, headers=headers, params={"timeout_s": 0.2}).status_code == 202
    cancelled = calls[CALLS - 5]
    cancelled.cancel()
    gate.touch()
    for n, call in enumerate(calls):
        if call is cancelled:
            with pytest.raises(modal.InputCancellation):
                call.get(timeout=scaled(30))
        else:
            assert call.get(timeout=scaled(30)) == n * n
    order = [int(line) for line in log.read_text().split()]
    assert order == [n for n in range(CALLS) if n != CALLS - 5]


def test_a_waiting_caller_gets_a_parked_calls_result_when_it_comes(
    parked: RunningGateway, tmp_path: Path
) -> None:
    gate, log = tmp_path / "gate", tmp_path / "order.log"
    step = modal.Function.from_name("parking-app", "step")
    calls = [step.spawn(str(gate), str(log), n) for n in range(60)]
    url = f"{parked.url}/v1/calls/{calls[-1].object_id}"
    headers = {"authorization": parked.authorization}
    with httpx.Client(headers=headers, timeout=scaled(60)) as http:
        gate.touch()
        answer = http.get(url, params={"timeout_s": scaled(30)})
    assert answer.status_code == 200
    assert answer.json() == 59 * 59
