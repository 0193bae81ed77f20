"""`.map` throughput: a no-op function over many small inputs, end to end, results checked,
against the same kind of inputs as sequential `.remote()` calls measured in the same run.

Reported: inputs per second of each, their ratio, and the peak memory (RSS) of the gateway
process and of this client process. Target: at least 10,000 inputs/s on 2 cores.

Run: `.venv/bin/python bench/map_throughput.py [--inputs N] [--remote-calls N]`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from remote_latency import HERE, gateway_with_app

APP = """
    import wharf as modal

    app = modal.App("bench-map")


    @app.function()
    def identity(x: int) -> int:
        return x
"""


def gateway_peak_rss_mb(port: int, field: str = "VmHWM") -> float:
    """Peak RSS of the process listening on `port` (the gateway), from /proc (its RSS now
    with `field="VmRSS"`)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"wharf_gateway" in command and str(port).encode() in command:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--inputs", type=int, default=100_000)
    parser.add_argument("--remote-calls", type=int, default=2_000)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "map_throughput.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        with gateway_with_app(Path(work), APP) as (port, _):
            import wharf

            identity = wharf.Function.from_name("bench-map", "identity")
            assert list(identity.map(range(1000))) == list(range(1000))  # warm
            started = time.perf_counter()
            for i in range(args.remote_calls):
                assert identity.remote(i) == i
            remote_per_s = args.remote_calls / (time.perf_counter() - started)
            started = time.perf_counter()
            count = 0
            for expected, result in enumerate(identity.map(range(args.inputs))):
                assert result == expected
                count += 1
            assert count == args.inputs
            map_per_s = args.inputs / (time.perf_counter() - started)
            gateway_mb = gateway_peak_rss_mb(port)
    client_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "inputs": args.inputs,
        "map_inputs_per_s": map_per_s,
        "remote_calls_per_s": remote_per_s,
        "ratio": map_per_s / remote_per_s,
        "gateway_peak_rss_mb": gateway_mb,
        "client_peak_rss_mb": client_mb,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(
        f".map of {args.inputs} inputs: {map_per_s:,.0f} inputs/s against {remote_per_s:,.0f} "
        f"sequential .remote() calls/s (x{map_per_s / remote_per_s:.1f}); peak memory: gateway "
        f"{gateway_mb:.0f} MiB, client {client_mb:.0f} MiB"
    )


if __name__ == "__main__":
    main()
