"""Steady load for minutes: calls at the gateway's full rate, and each minute the call rate, the
database and WAL file sizes, and the gateway's memory. The store must stay bounded: the WAL under
64 MiB whatever the load, and the database growing only with what is retained (run with a short
`--result-ttl-s` to watch expired results and calls go and their space be reused).

Run: `.venv/bin/python bench/soak.py [--minutes 10] [--clients 32] [--result-ttl-s 60]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import tomllib
from pathlib import Path

import httpx
from map_throughput import gateway_peak_rss_mb
from remote_latency import HERE, gateway_with_app

APP = """
    import wharf as modal

    app = modal.App("bench-soak")


    @app.function()
    @modal.concurrent(max_inputs=64)
    def square(x: int):
        return x * x
"""
#: What the store may use at most under any steady load.
WAL_LIMIT_MIB = 64


def _authorization(profile: Path) -> str:
    with profile.open("rb") as file:
        values = next(iter(tomllib.load(file).values()))
    return f"Bearer {values['token_id']}:{values['token_secret']}"


def _mib(path: Path) -> float:
    return path.stat().st_size / 2**20 if path.exists() else 0.0


async def _call_forever(http: httpx.AsyncClient, url: str, done: list[int]) -> None:
    while True:
        response = await http.post(url, json={"args": [3]})
        if response.status_code == 200:
            done[0] += 1
        else:
            done[1] += 1


async def _soak(port: int, data_dir: Path, args: argparse.Namespace) -> list[dict[str, float]]:
    url = f"http://127.0.0.1:{port}/v1/apps/bench-soak/functions/square/calls"
    headers = {"authorization": _authorization(data_dir.parent / "wharf.toml")}
    limits = httpx.Limits(max_connections=args.clients)
    done = [0, 0]
    rows: list[dict[str, float]] = []
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=60) as http:
        callers = [asyncio.create_task(_call_forever(http, url, done)) for _ in range(args.clients)]
        started = last_time = time.monotonic()
        last_done = 0
        try:
            while time.monotonic() - started < args.minutes * 60:
                await asyncio.sleep(args.every_s)
                now = time.monotonic()
                row = {
                    "minute": round((now - started) / 60, 2),
                    "calls_per_s": round((done[0] - last_done) / (now - last_time)),
                    "calls": done[0],
                    "errors": done[1],
                    "db_mib": round(_mib(data_dir / "wharf.db"), 1),
                    "wal_mib": round(_mib(data_dir / "wharf.db-wal"), 1),
                    "gateway_rss_mib": round(gateway_peak_rss_mb(port, "VmRSS"), 1),
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
                last_time, last_done = now, done[0]
        finally:
            for caller in callers:
                caller.cancel()
            await asyncio.gather(*callers, return_exceptions=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--every-s", type=float, default=60)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--result-ttl-s", type=int, default=60)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "soak.json")
    args = parser.parse_args()
    server_args = ("--result-ttl-s", str(args.result_ttl_s))
    with tempfile.TemporaryDirectory() as work:
        with gateway_with_app(Path(work), APP, server_args) as (port, data_dir):
            rows = asyncio.run(_soak(port, data_dir, args))
    biggest_wal = max(row["wal_mib"] for row in rows)
    result = {
        "clients": args.clients,
        "result_ttl_s": args.result_ttl_s,
        "minutes": rows,
        "largest_wal_mib": biggest_wal,
        "target": f"the WAL stays under {WAL_LIMIT_MIB} MiB",
        "met": biggest_wal < WAL_LIMIT_MIB,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(f"largest WAL {biggest_wal} MiB; target met: {result['met']}")


if __name__ == "__main__":
    main()
