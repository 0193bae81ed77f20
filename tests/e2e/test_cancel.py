"""Cancelling a call ends exactly its input: the other inputs sharing its container run on,
once each, and are charged nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import wharf as modal

from tests.helpers import scaled, serving_app, wait_until

CANCEL_APP = """
    import asyncio
    import os
    import time
    from pathlib import Path

    import wharf as modal

    app = modal.App("cancel-app")


    def note(folder: str, name: str, what: str) -> None:
        with open(Path(folder) / f"{name}.{what}", "a") as marks:
            marks.write(f"{os.getpid()}\\n")


    @app.function()
    @modal.concurrent(max_inputs=10)
    async def waits(folder: str, name: str, seconds: float) -> str:
        note(folder, name, "started")
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            note(folder, name, "interrupted")
            raise
        return name


    @app.function()
    @modal.concurrent(max_inputs=10)
    def blocks(folder: str, name: str, seconds: float) -> str:
        note(folder, name, "started")
        time.sleep(seconds)
        note(folder, name, "finished")
        return name
"""
CALLS = 6
CANCELLED = ("c0", "c1")


def _marks(folder: Path, what: str) -> dict[str, list[str]]:
    """The pids each call's input noted `what` in, by call name."""
    return {path.stem: path.read_text().split() for path in folder.glob(f"*.{what}")}


def _six_calls_two_cancelled(
    function: modal.Function, folder: Path, seconds: float
) -> dict[str, modal.FunctionCall]:
    """Start six calls in one container, wait until all run, and cancel the first two (which
    would run 10 minutes)."""
    calls = {
        f"c{n}": function.spawn(str(folder), f"c{n}", 600 if f"c{n}" in CANCELLED else seconds)
        for n in range(CALLS)
    }
    wait_until(lambda: len(_marks(folder, "started")) == CALLS, timeout_s=scaled(60))
    for name in CANCELLED:
        calls[name].cancel()
    return calls


def _bystanders_ran_once(calls: dict[str, modal.FunctionCall], folder: Path) -> str:
    """Check the four calls nobody cancelled each ran once and got their value; returns the
    pid of the container all six ran in."""
    for name, call in calls.items():
        if name in CANCELLED:
            with pytest.raises(modal.InputCancellation):
                call.get(timeout=scaled(10))
        else:
            assert call.get(timeout=scaled(60)) == name
    started = {name: pids for name, pids in _marks(folder, "started").items() if name in calls}
    # Before: the container was killed, and the four bystanders ran again (attempt 2 and 3).
    assert {name: len(pids) for name, pids in started.items()} == dict.fromkeys(calls, 1)
    (pid,) = {pids[0] for pids in started.values()}  # all in one container
    return pid


@pytest.fixture
def marks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The app served, and the folder its inputs note what they do in."""
    folder = tmp_path / "marks"
    folder.mkdir()
    with serving_app(tmp_path, monkeypatch, CANCEL_APP):
        yield folder


def test_a_cancel_interrupts_an_async_input_where_it_stands(marks: Path) -> None:
    waits = modal.Function.from_name("cancel-app", "waits")
    pid = _bystanders_ran_once(_six_calls_two_cancelled(waits, marks, scaled(3)), marks)
    assert sorted(_marks(marks, "interrupted")) == sorted(CANCELLED)
    # The container was not stopped: the next call runs in it.
    assert waits.remote(str(marks), "after", 0) == "after"
    assert _marks(marks, "started")["after"] == [pid]


def test_a_cancel_of_sync_code_drains_its_container_then_retires_it(marks: Path) -> None:
    blocks = modal.Function.from_name("cancel-app", "blocks")
    calls = _six_calls_two_cancelled(blocks, marks, scaled(4))
    # A draining container takes nothing new: a call made now gets a container of its own.
    assert blocks.remote(str(marks), "newcomer", 0) == "newcomer"
    pid = _bystanders_ran_once(calls, marks)
    assert _marks(marks, "started")["newcomer"] != [pid]
    # Once the bystanders are done the container goes, with the cancelled inputs in it.
    wait_until(lambda: blocks.get_current_stats().num_total_runners <= 1, timeout_s=10)
    assert sorted(_marks(marks, "finished")) == ["c2", "c3", "c4", "c5", "newcomer"]
