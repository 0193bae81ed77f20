"""Idle WebSocket connections through the gateway: the gateway's memory per connection, and the
echo round trip through the gateway against the same echo straight to the container.

Run: `.venv/bin/python bench/websockets.py [--connections 10000]`. It raises this process's
open-file limit, which the gateway and its containers inherit (past the hard limit: root only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

# This file has the websockets package's name: import the package, then the other benchmarks.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH]

from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import InvalidHandshake  # noqa: E402

sys.path.insert(0, str(BENCH))

from remote_latency import HERE, gateway_with_app  # noqa: E402
from web_overhead import listening_ports  # noqa: E402

APP = """
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute

    import wharf as modal

    app = modal.App("bench-ws")


    async def echo(websocket):
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)


    @app.function(allow_concurrent_inputs=10000)
    @modal.asgi_app()
    def sockets():
        return Starlette(routes=[WebSocketRoute("/", echo)])
"""


def gateway_pid(port: int) -> int:
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"gateway" in cmdline and str(port).encode() in cmdline:
            return int(entry.name)
    raise RuntimeError("gateway process not found")


def rss_kib(pid: int) -> int:
    for line in (Path("/proc") / str(pid) / "status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


async def container_ws_url(data_dir: Path) -> str:
    """The container's own WebSocket URL: the port of its that takes the handshake."""
    for port in listening_ports(data_dir):
        url = f"ws://127.0.0.1:{port}/"
        try:
            async with connect(url, open_timeout=2):
                return url
        except (OSError, InvalidHandshake, TimeoutError):
            continue
    raise RuntimeError("found no container WebSocket server")


async def echo_p50_ms(url: str, count: int) -> float:
    async with connect(url) as connection:
        samples = []
        for _ in range(count):
            started = time.perf_counter()
            await connection.send("ping")
            await connection.recv()
            samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e3


async def hold(url: str, count: int, batch: int) -> list[ClientConnection]:
    held: list[ClientConnection] = []
    for start in range(0, count, batch):
        size = min(batch, count - start)
        held += await asyncio.gather(*(connect(url, ping_interval=None) for _ in range(size)))
    return held


async def measure(port: int, data_dir: Path, connections: int) -> dict[str, float]:
    url = f"ws://127.0.0.1:{port}/web/main--bench-ws-sockets/"
    through = await echo_p50_ms(url, 2000)
    direct = await echo_p50_ms(await container_ws_url(data_dir), 2000)
    pid = gateway_pid(port)
    before = rss_kib(pid)
    held = await hold(url, connections, 500)
    await asyncio.sleep(1)  # let the gateway settle before reading its memory
    after = rss_kib(pid)
    for connection in held:
        await connection.close()
    return {
        "connections": len(held),
        "gateway_kib_per_connection": (after - before) / len(held),
        "echo_p50_ms_through_gateway": through,
        "echo_p50_ms_direct": direct,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--output", type=Path, default=HERE / "results" / "websockets.json")
    args = parser.parse_args()
    # The gateway holds two descriptors per connection (caller and container side).
    want = 2 * args.connections + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
    except ValueError:  # not root: up to the hard limit
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if want > hard:
            print(f"the open-file limit is {hard}: fewer connections will fit", file=sys.stderr)
    with tempfile.TemporaryDirectory() as work:
        with gateway_with_app(Path(work), APP) as (port, data_dir):
            result = asyncio.run(measure(port, data_dir, args.connections))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2))
    print(
        f"{result['connections']:.0f} idle connections: "
        f"{result['gateway_kib_per_connection']:.1f} KiB each in the gateway; echo p50 "
        f"{result['echo_p50_ms_through_gateway']:.3f} ms through the gateway, "
        f"{result['echo_p50_ms_direct']:.3f} ms straight to the container"
    )


if __name__ == "__main__":
    main()
