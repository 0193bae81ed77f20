"""A million pending calls to one function whose container cannot keep up: the spawn rate (every
call accepted, no 429), the gateway's memory with all of them waiting, a `kill -9` and how soon
the restarted gateway answers `/v1/health` and serves a new call, and how long until every call
has its result.

Run: `.venv/bin/python bench/pending.py [--calls 1000000]`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
import tomllib
from pathlib import Path

import httpx
from map_throughput import gateway_peak_rss_mb
from remote_latency import HERE, free_port, wait_for
from wharf.frames import pack_frame

APP = """
    import time
    from pathlib import Path

    import wharf as modal

    app = modal.App("bench-pending")


    @app.function(max_containers=1)
    def gated(gate: str, n: int) -> int:
        while not Path(gate).exists():
            time.sleep(0.05)
        return n


    @app.function()
    def quick() -> str:
        return "served"
"""
BATCH = 5_000
#: What the gateway may hold with every call pending.
RSS_LIMIT_MIB = 300


def _start(data_dir: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    server = [sys.executable, "-m", "wharf_gateway", "server", "--port", str(port)]
    server += ["--data-dir", str(data_dir), "--rate-limit-per-s", "1000000"]
    return subprocess.Popen(server, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _authorization(profile: Path) -> str:
    with profile.open("rb") as file:
        values = next(iter(tomllib.load(file).values()))
    return f"Bearer {values['token_id']}:{values['token_secret']}"


def _finished(data_dir: Path) -> int:
    with sqlite3.connect(f"file:{data_dir / 'wharf.db'}?mode=ro", uri=True) as database:
        row = database.execute(
            "SELECT count(*) FROM calls WHERE status = 'success' AND function_id IN "
            "(SELECT id FROM functions WHERE name = 'gated')"
        ).fetchone()
    return int(row[0])


def _spawn_all(url: str, headers: dict[str, str], gate: Path, calls: int) -> float:
    """Spawn `calls` calls in batches; the seconds it took."""
    batch_url = f"{url}/v1/apps/bench-pending/functions/gated/calls/batch"
    started = time.perf_counter()
    with httpx.Client(headers=headers, timeout=120) as http:
        for start in range(0, calls, BATCH):
            count = min(BATCH, calls - start)
            inputs = [f'{{"args": ["{gate}", {n}]}}'.encode() for n in range(start, start + count)]
            frame = pack_frame({"format": "json", "sizes": [len(i) for i in inputs]}, inputs)
            taken = http.post(batch_url, content=frame)
            if taken.status_code != 202 or len(taken.json()["call_ids"]) != count:
                raise RuntimeError(f"batch at {start} not taken whole: {taken.status_code}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "pending.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        data_dir, profile, gate = work_dir / "data", work_dir / "wharf.toml", work_dir / "gate"
        env = {**os.environ, "WHARF_CONFIG_PATH": str(profile)}
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        gateway = _start(data_dir, port, env)
        wait_for(f"{url}/v1/health")
        app_file = work_dir / "bench_app.py"
        app_file.write_text(textwrap.dedent(APP))
        deploy = [sys.executable, "-m", "wharf", "deploy", str(app_file)]
        subprocess.run(deploy, env=env, check=True, capture_output=True)
        headers = {"authorization": _authorization(profile)}
        spawn_s = _spawn_all(url, headers, gate, args.calls)
        rss_mib = gateway_peak_rss_mb(port, "VmRSS")
        peak_mib = gateway_peak_rss_mb(port)
        database_mib = (data_dir / "wharf.db").stat().st_size / 2**20
        gateway.send_signal(signal.SIGKILL)
        gateway.wait()
        restarted = time.perf_counter()
        gateway = _start(data_dir, port, env)
        try:
            wait_for(f"{url}/v1/health", timeout_s=120)
            health_s = time.perf_counter() - restarted
            quick = f"{url}/v1/apps/bench-pending/functions/quick/calls"
            served = httpx.post(quick, json={}, headers=headers, timeout=120)
            served_s = time.perf_counter() - restarted
            assert served.json() == "served", served.text
            gate.touch()
            while (done := _finished(data_dir)) < args.calls:
                time.sleep(1)
            drained_s = time.perf_counter() - restarted
            after_peak_mib = gateway_peak_rss_mb(port)
        finally:
            gateway.terminate()
            gateway.wait(timeout=60)
    result = {
        "calls": args.calls,
        "spawns_per_s": round(args.calls / spawn_s),
        "gateway_rss_mib_with_all_pending": round(rss_mib, 1),
        "gateway_peak_rss_mib_before_the_kill": round(peak_mib, 1),
        "database_mib": round(database_mib, 1),
        "restart_health_s": round(health_s, 2),
        "restart_first_call_served_s": round(served_s, 2),
        "all_finished_after_restart_s": round(drained_s, 1),
        "finished": done,
        "gateway_peak_rss_mib_after_restart": round(after_peak_mib, 1),
        "target": f"RSS <= {RSS_LIMIT_MIB} MiB, served within 5 s of a restart, all finished",
        "met": peak_mib <= RSS_LIMIT_MIB
        and after_peak_mib <= RSS_LIMIT_MIB
        and served_s <= 5
        and done == args.calls,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
