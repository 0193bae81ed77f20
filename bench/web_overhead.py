"""What the gateway adds to a web request: a trivial GET endpoint through the gateway, against
the same request sent straight to the container's own server, in the same run.

Latency: one client, sequential kept-alive requests (p50, p99). Throughput: `wrk` with 64
connections for a few seconds each way (needs Debian's `wrk`; skipped without it). Everything
shares this machine's cores: gateway, container and load generator.
Run: `make bench` or `.venv/bin/python bench/web_overhead.py`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from remote_latency import HERE, gateway_with_app, measure

APP = """
    import wharf as modal

    app = modal.App("bench-web")


    @app.function(allow_concurrent_inputs=1000)
    @modal.web_endpoint()
    def hello():
        return "hello"
"""


def listening_ports(data_dir: Path) -> list[int]:
    """Loopback ports the containers serving `data_dir`'s bundles listen on."""
    ports = []
    for entry in Path("/proc").iterdir():
        try:
            if f"RUNNER_BUNDLE_PATH={data_dir}".encode() not in (entry / "environ").read_bytes():
                continue
            inodes = {
                os.readlink(fd)[8:-1]
                for fd in (entry / "fd").iterdir()
                if os.readlink(fd).startswith("socket:[")
            }
            table = (entry / "net" / "tcp").read_text().splitlines()[1:]
        except (OSError, ValueError):
            continue
        for line in table:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.append(int(fields[1].split(":")[1], 16))
    return ports


def container_web_url(data_dir: Path) -> str:
    for port in listening_ports(data_dir):
        url = f"http://127.0.0.1:{port}/"
        if httpx.get(url).status_code == 200:
            return url
    raise RuntimeError("found no container web server")


def wrk(url: str, host: str | None, seconds: int) -> float | None:
    """Requests per second with 64 connections, or None without wrk."""
    if not shutil.which("wrk"):
        return None
    command = ["wrk", "-t2", "-c64", f"-d{seconds}s", url]
    if host:
        command[1:1] = ["-H", f"Host: {host}"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", output)
    return float(match.group(1)) if match else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "web_overhead.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        with gateway_with_app(Path(work), APP) as (port, data_dir):
            host = f"main--bench-web-hello.localhost:{port}"
            gateway_url = f"http://127.0.0.1:{port}/"
            with httpx.Client(headers={"host": host}) as http:
                assert http.get(gateway_url).json() == "hello"
                direct_url = container_web_url(data_dir)
                through = measure(lambda: http.get(gateway_url), args.requests, 300)
            with httpx.Client() as http:
                direct = measure(lambda: http.get(direct_url), args.requests, 300)
            through_rps = wrk(gateway_url, host, args.seconds)
            direct_rps = wrk(direct_url, None, args.seconds)
    result = {
        "direct_to_container": {**direct, "rps_64_connections": direct_rps},
        "through_gateway": {**through, "rps_64_connections": through_rps},
        "added_p50_ms": through["p50_ms"] - direct["p50_ms"],
        "targets": "added p50 <= 0.4 ms; >= 3000 requests/s with 64 connections",
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    for name in ("direct_to_container", "through_gateway"):
        figures = result[name]
        assert isinstance(figures, dict)
        print(
            f"{name:<20} p50 {figures['p50_ms']:.3f} ms, p99 {figures['p99_ms']:.3f} ms, "
            f"64 connections: {figures['rps_64_connections']} requests/s"
        )
    print(f"added at p50: {result['added_p50_ms']:.3f} ms")


if __name__ == "__main__":
    main()
