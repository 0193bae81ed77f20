"""Large payloads: a 1 GiB argument into `.remote()`, and a 1 GiB result back out, through a
gateway in a process of its own, against the least any blob transfer costs on this machine
measured in the same run: pickling the bytes, hashing them, writing them to a file and reading
them back.

Reported: seconds for each direction, the floor, their ratios, and the gateway's peak memory
(RSS), which must stay far below the payload's size: blobs stream to and from disk.

Run: `.venv/bin/python bench/payloads.py [--mib N]`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from map_throughput import gateway_peak_rss_mb
from remote_latency import HERE, gateway_with_app

APP = """
    import hashlib

    import wharf as modal

    app = modal.App("bench-payloads")


    @app.function(timeout=600)
    def digest(data: bytes) -> list:
        return [len(data), hashlib.sha256(data).hexdigest()]


    @app.function(timeout=600)
    def make(size: int) -> bytes:
        return b"w" * size
"""


def floor_s(data: bytes, work: Path) -> float:
    """Pickle, hash, write and read back `data`: the local work one blob transfer needs."""
    from wharf.serialization import serialize

    started = time.perf_counter()
    pickled = serialize(data)
    hashlib.sha256(pickled).hexdigest()
    path = work / "floor.bin"
    path.write_bytes(pickled)
    assert len(path.read_bytes()) == len(pickled)
    path.unlink()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=1024)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "payloads.json")
    args = parser.parse_args()
    size = args.mib * 1024 * 1024
    data = os.urandom(size)
    with tempfile.TemporaryDirectory() as work:
        floor = floor_s(data, Path(work))
        with gateway_with_app(Path(work), APP) as (port, _):
            import wharf

            digest = wharf.Function.from_name("bench-payloads", "digest")
            make = wharf.Function.from_name("bench-payloads", "make")
            assert make.remote(10) == b"w" * 10  # warm
            idle_mb = gateway_peak_rss_mb(port)
            started = time.perf_counter()
            assert digest.remote(data) == [size, hashlib.sha256(data).hexdigest()]
            in_s = time.perf_counter() - started
            started = time.perf_counter()
            result = make.remote(size)
            out_s = time.perf_counter() - started
            assert len(result) == size
            assert result[:1] == result[-1:] == b"w"
            del result
            peak_mb = gateway_peak_rss_mb(port)
    outcome = {
        "payload_mib": args.mib,
        "argument_s": in_s,
        "result_s": out_s,
        "floor_s": floor,
        "argument_ratio": in_s / floor,
        "result_ratio": out_s / floor,
        "gateway_idle_peak_rss_mb": idle_mb,
        "gateway_peak_rss_mb": peak_mb,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(outcome, indent=2))
    print(
        f"{args.mib} MiB argument: {in_s:.2f} s (x{in_s / floor:.1f} the floor of {floor:.2f} s); "
        f"{args.mib} MiB result: {out_s:.2f} s (x{out_s / floor:.1f}); gateway peak memory "
        f"{peak_mb:.0f} MiB (before: {idle_mb:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
