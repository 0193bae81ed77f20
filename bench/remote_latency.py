"""Warm `.remote()` round trips through the gateway, against the floor measured in the same run.

The floor is one HTTP round trip from this process to a minimal Hypercorn app (bench/floor_app.py)
with the same HTTP client library the Wharf client uses. Run: `make bench` or
`.venv/bin/python bench/remote_latency.py [--calls N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent

APP = """
    import wharf as modal

    app = modal.App("bench-latency")


    @app.function()
    def square(x: int):
        return x * x
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def process(args: list[str], env: dict[str, str]) -> Iterator[None]:
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        child.terminate()
        child.wait(timeout=30)


def measure(call: Callable[[], object], count: int, warmup: int) -> dict[str, float]:
    for _ in range(warmup):
        call()
    samples = []
    started = time.perf_counter()
    for _ in range(count):
        begin = time.perf_counter()
        call()
        samples.append(time.perf_counter() - begin)
    elapsed = time.perf_counter() - started
    samples.sort()
    return {
        "p50_ms": statistics.median(samples) * 1e3,
        "p99_ms": samples[int(len(samples) * 0.99) - 1] * 1e3,
        "mean_ms": statistics.fmean(samples) * 1e3,
        "max_ms": samples[-1] * 1e3,
        "over_10ms": sum(1 for sample in samples if sample > 0.01),
        "calls_per_s": count / elapsed,
    }


def measure_floor(count: int, warmup: int) -> dict[str, float]:
    port = free_port()
    args = [sys.executable, "-m", "hypercorn", "-b", f"127.0.0.1:{port}", "floor_app:app"]
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    with process(args, env), httpx.Client() as http:
        url = f"http://127.0.0.1:{port}/"
        wait_for(url)
        return measure(lambda: http.post(url, content=b'{"args": [42]}'), count, warmup)


@contextmanager
def gateway_with_app(
    work_dir: Path, source: str, server_args: tuple[str, ...] = ()
) -> Iterator[tuple[int, Path]]:
    """`wharf server` (with `server_args`) in a process of its own with `source` deployed;
    yields its port and data dir, with this process's client pointed at it. Benchmarks lift the
    workspace rate limit: their sequential calls outrun the default (200/s)."""
    port = free_port()
    profile = work_dir / "wharf.toml"
    env = {**os.environ, "WHARF_CONFIG_PATH": str(profile)}
    data_dir = work_dir / "data"
    server = [sys.executable, "-m", "wharf_gateway", "server", "--port", str(port)]
    server += ["--data-dir", str(data_dir), "--rate-limit-per-s", "1000000", *server_args]
    with process(server, env):
        wait_for(f"http://127.0.0.1:{port}/v1/health")
        os.environ["WHARF_CONFIG_PATH"] = str(profile)
        app_file = work_dir / "bench_app.py"
        app_file.write_text(textwrap.dedent(source))
        deploy = [sys.executable, "-m", "wharf", "deploy", str(app_file)]
        subprocess.run(deploy, env=env, check=True, capture_output=True)
        yield port, data_dir


def measure_remote(count: int, warmup: int, work_dir: Path) -> dict[str, float]:
    with gateway_with_app(work_dir, APP):
        import wharf

        square = wharf.Function.from_name("bench-latency", "square")
        assert square.remote(12) == 144
        return measure(lambda: square.remote(3), count, warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "remote_latency.json")
    args = parser.parse_args()
    floor = measure_floor(args.calls, args.warmup)
    with tempfile.TemporaryDirectory() as work_dir:
        remote = measure_remote(args.calls, args.warmup, Path(work_dir))
    result = {
        "calls": args.calls,
        "floor_hypercorn_round_trip": floor,
        "wharf_remote": remote,
        "p50_ratio_to_floor": remote["p50_ms"] / floor["p50_ms"],
        "target": "warm .remote() p50 <= 2 ms",
        "met": remote["p50_ms"] <= 2.0,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(
        f"floor (Hypercorn round trip): p50 {floor['p50_ms']:.3f} ms, "
        f"p99 {floor['p99_ms']:.3f} ms, {floor['calls_per_s']:.0f}/s"
    )
    print(
        f"wharf .remote():             p50 {remote['p50_ms']:.3f} ms, "
        f"p99 {remote['p99_ms']:.3f} ms, {remote['calls_per_s']:.0f}/s, "
        f"max {remote['max_ms']:.1f} ms ({remote['over_10ms']:.0f} calls over 10 ms)"
    )
    print(f"p50 ratio to floor: {result['p50_ratio_to_floor']:.2f}x; target met: {result['met']}")


if __name__ == "__main__":
    main()
