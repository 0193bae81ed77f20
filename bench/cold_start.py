"""Cold and warm calls with the docker backend, against references measured in the same run.

- cold: a call of a trivial function when none of its containers is warm (each sample follows a
  redeploy, whose new version starts with no containers), against `docker run --rm` of the same
  image running the same Python;
- warm: a call to a warm container, against a warm call with the local backend.

Run: `.venv/bin/python bench/cold_start.py [--samples N]` (needs Docker and the runner base image).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from remote_latency import HERE, gateway_with_app, measure

APP = """
    import wharf as modal

    app = modal.App("bench-cold")


    @app.function()
    def square(x: int):
        return x * x
"""


def cold_samples(work_dir: Path, samples: int) -> list[float]:
    import wharf

    app_file = work_dir / "bench_app.py"
    times = []
    for index in range(samples):
        # A new version each time (the source changes): its pool starts with no containers.
        app_file.write_text(textwrap.dedent(APP) + f"\n# version {index}\n")
        subprocess.run(
            [sys.executable, "-m", "wharf", "deploy", str(app_file)],
            check=True,
            capture_output=True,
        )
        square = wharf.Function.from_name("bench-cold", "square")
        started = time.perf_counter()
        assert square.remote(7) == 49
        times.append(time.perf_counter() - started)
    return times


def docker_run_samples(image: str, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run(
            ["docker", "run", "--rm", image, "python3", "-c", "print(7 * 7)"],  # noqa: S607
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - started)
    return times


def runtime_image() -> str:
    from wharf_runner.backends.docker_engine import DockerEngine
    from wharf_runner.backends.runtime_image import ensure_runtime_image

    engine = DockerEngine()
    try:
        return ensure_runtime_image(engine)
    finally:
        engine.close()


def p50_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "cold_start.json")
    args = parser.parse_args()
    image = runtime_image()
    docker_run = docker_run_samples(image, args.samples)
    with tempfile.TemporaryDirectory() as work:
        with gateway_with_app(Path(work), APP, ("--backend", "docker")):
            import wharf

            cold = cold_samples(Path(work), args.samples)
            square = wharf.Function.from_name("bench-cold", "square")
            warm_docker = measure(lambda: square.remote(3), args.calls, 100)
    with tempfile.TemporaryDirectory() as work:
        with gateway_with_app(Path(work), APP):
            square = wharf.Function.from_name("bench-cold", "square")
            warm_local = measure(lambda: square.remote(3), args.calls, 100)
    result = {
        "samples": args.samples,
        "cold_p50_ms": p50_ms(cold),
        "cold_max_ms": max(cold) * 1e3,
        "docker_run_p50_ms": p50_ms(docker_run),
        "warm_docker_p50_ms": warm_docker["p50_ms"],
        "warm_local_p50_ms": warm_local["p50_ms"],
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(
        f"cold call p50 {result['cold_p50_ms']:.0f} ms (max {result['cold_max_ms']:.0f}) against "
        f"docker run p50 {result['docker_run_p50_ms']:.0f} ms; warm call p50 "
        f"{result['warm_docker_p50_ms']:.2f} ms in Docker, "
        f"{result['warm_local_p50_ms']:.2f} ms local"
    )


if __name__ == "__main__":
    main()
