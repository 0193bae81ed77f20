"""Autoscaling from zero: a burst of one-second calls against the ideal for the pool's size.

From zero containers, 200 calls of a function that sleeps 1 s, with `max_containers=8` and
`@concurrent(max_inputs=4)`, so at most 32 run at once. Reported: time to the first result,
time to all results against the ideal (200 / 32 = 6.25 s, plus one cold start measured in the
same run on a function of its own; 7 whole rounds are reported too), the most containers
running at once, and the time to scale back to zero after the scale-down window (2 s).

Run: `.venv/bin/python bench/autoscale.py [--calls N] [--backend docker]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from remote_latency import HERE, gateway_with_app

MAX_CONTAINERS = 8
MAX_INPUTS = 4
SCALEDOWN_WINDOW_S = 2

APP = f"""
    import time

    import wharf as modal

    app = modal.App("bench-autoscale")


    @app.function(max_containers={MAX_CONTAINERS}, scaledown_window={SCALEDOWN_WINDOW_S})
    @modal.concurrent(max_inputs={MAX_INPUTS})
    def one_second(i: int):
        time.sleep(1.0)
        return i


    @app.function(scaledown_window={SCALEDOWN_WINDOW_S})
    def noop():
        return None
"""


class PeakContainers:
    """Samples the function's containers every 20 ms, keeping the most seen at once."""

    def __init__(self, function: object) -> None:
        self._function = function
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            total = self._function.get_current_stats().num_total_runners  # type: ignore[attr-defined]
            self.peak = max(self.peak, total)

    def __enter__(self) -> PeakContainers:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def burst(function: object, calls: int) -> tuple[float, float]:
    """Spawn `calls` calls at once; seconds to the first result and to the last."""
    started = time.perf_counter()
    spawned = await asyncio.gather(*(function.spawn.aio(i) for i in range(calls)))  # type: ignore[attr-defined]
    finished: list[float] = []

    async def wait(call: object, i: int) -> None:
        assert await call.get.aio() == i  # type: ignore[attr-defined]
        finished.append(time.perf_counter() - started)

    await asyncio.gather(*(wait(call, i) for i, call in enumerate(spawned)))
    return min(finished), max(finished)


def seconds_to_zero(function: object, deadline_s: float = 120.0) -> float:
    started = time.perf_counter()
    while function.get_current_stats().num_total_runners:  # type: ignore[attr-defined]
        if time.perf_counter() - started > deadline_s:
            raise SystemExit("the pool did not scale to zero")
        time.sleep(0.05)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--backend", default="local", choices=["local", "docker"])
    parser.add_argument("--output", type=Path, default=HERE / "results" / "autoscale.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        with gateway_with_app(Path(work), APP, ("--backend", args.backend)):
            import wharf

            noop = wharf.Function.from_name("bench-autoscale", "noop")
            started = time.perf_counter()
            noop.remote()
            cold_start_s = time.perf_counter() - started
            one_second = wharf.Function.from_name("bench-autoscale", "one_second")
            with PeakContainers(one_second) as peak:
                first_s, all_s = asyncio.run(burst(one_second, args.calls))
            to_zero_s = seconds_to_zero(one_second)
    slots = MAX_CONTAINERS * MAX_INPUTS
    # The ideal counts fractional rounds (200 / 32 = 6.25 s); whole rounds are 7.
    ideal_s = args.calls / slots + cold_start_s
    rounds_ideal_s = math.ceil(args.calls / slots) + cold_start_s
    result = {
        "backend": args.backend,
        "calls": args.calls,
        "cold_start_s": cold_start_s,
        "first_result_s": first_s,
        "all_results_s": all_s,
        "ideal_s": ideal_s,
        "ratio_to_ideal": all_s / ideal_s,
        "whole_rounds_ideal_s": rounds_ideal_s,
        "peak_containers": peak.peak,
        "scale_to_zero_s": to_zero_s,
        "scaledown_window_s": SCALEDOWN_WINDOW_S,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(
        f"{args.calls} one-second calls ({args.backend}): first result {first_s:.2f} s, all "
        f"{all_s:.2f} s against an ideal of {ideal_s:.2f} s (x{all_s / ideal_s:.2f}; whole rounds "
        f"{rounds_ideal_s:.2f} s; cold start {cold_start_s:.2f} s); {peak.peak} containers at "
        "most; back to zero "
        f"{to_zero_s:.2f} s after the last result (window {SCALEDOWN_WINDOW_S} s)"
    )


if __name__ == "__main__":
    main()
