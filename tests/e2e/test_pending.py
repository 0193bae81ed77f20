"""A hundred thousand pending calls: all accepted at once, the gateway's memory bounded, a
`kill -9` restart that serves again within seconds (the calls come back from the store in the
background), and every call reaching one result. (A million is `bench/pending.py`'s.)"""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from wharf.frames import pack_frame

from tests.e2e.test_recovery import deploy_with_profile, gateway_process, token_from
from tests.helpers import scaled, wait_until, write_app

PENDING_APP = """
    import time
    from pathlib import Path

    import wharf as modal

    app = modal.App("pending-app")


    @app.function(max_containers=1)
    def gated(gate: str, n: int) -> int:
        while not Path(gate).exists():
            time.sleep(0.05)
        return n


    @app.function()
    def quick() -> str:
        return "served"
"""
PENDING = 100_000
BATCH = 2_000


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _finished(data_dir: Path) -> int:
    with sqlite3.connect(f"file:{data_dir / 'wharf.db'}?mode=ro", uri=True) as database:
        (count,) = database.execute(
            "SELECT count(*) FROM calls WHERE status = 'success' AND function_id IN "
            "(SELECT id FROM functions WHERE name = 'gated')"
        ).fetchone()
    return int(count)


@pytest.mark.timeout(scaled(300))
def test_a_hundred_thousand_pending_calls_survive_a_kill_9(tmp_path: Path) -> None:
    data_dir, profile = tmp_path / "data", tmp_path / "wharf.toml"
    gate = tmp_path / "gate"
    with gateway_process(data_dir, profile) as (process, url):
        deploy_with_profile(write_app(tmp_path, PENDING_APP), profile)
        headers = {"authorization": token_from(profile)}
        batch_url = f"{url}/v1/apps/pending-app/functions/gated/calls/batch"
        with httpx.Client(headers=headers, timeout=scaled(60)) as http:
            for start in range(0, PENDING, BATCH):
                inputs = [
                    f'{{"args": ["{gate}", {n}]}}'.encode() for n in range(start, start + BATCH)
                ]
                frame = pack_frame({"format": "json", "sizes": [len(i) for i in inputs]}, inputs)
                taken = http.post(batch_url, content=frame)
                assert taken.status_code == 202, taken.text  # none refused: no 429
                assert len(taken.json()["call_ids"]) == BATCH
        # The queue past what runs lives in the store: memory stays bounded.
        assert _rss_mib(process.pid) < 300
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=scaled(10))

    restarted_at = time.monotonic()
    with gateway_process(data_dir, profile) as (_, url):
        headers = {"authorization": token_from(profile)}
        quick = f"{url}/v1/apps/pending-app/functions/quick/calls"
        served = httpx.post(quick, json={}, headers=headers, timeout=scaled(30))
        assert served.json() == "served"
        assert time.monotonic() - restarted_at < scaled(5) + 3  # the start of a process, too
        gate.touch()
        wait_until(lambda: _finished(data_dir) == PENDING, timeout_s=scaled(180), interval_s=1)
