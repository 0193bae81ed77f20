"""A gateway that restarts takes on the healthy containers its earlier run left (found by their
labels), so their functions answer at once, warm; containers it cannot use are removed. A
container busy with an input stops within 5 s of losing its gateway, whatever its function does."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from wharf_gateway.server.app import backend_owner

from tests.e2e.test_recovery import BUSY_APP, deploy_with_profile, gateway_process, token_from
from tests.helpers import docker_problem, scaled, wait_until, write_app

if (problem := docker_problem()) is not None:
    pytest.skip(problem, allow_module_level=True)

WARM_APP = """
    import socket

    import wharf as modal

    app = modal.App("warm")


    @app.function()
    def host(call_back: bool = False) -> str:
        if call_back:  # with this container's own token
            modal.Function.lookup("warm", "host")
        return socket.gethostname()
"""


def call(url: str, profile: Path, call_back: bool = False) -> str:
    response = httpx.post(
        f"{url}/v1/apps/warm/functions/host/calls",
        json={"args": [], "kwargs": {"call_back": call_back}},
        headers={"authorization": token_from(profile)},
        timeout=scaled(60),
    )
    assert response.status_code == 200, response.text
    return str(response.json())


def test_a_restarted_gateway_takes_on_its_running_containers(tmp_path: Path) -> None:
    data_dir, profile = tmp_path / "data", tmp_path / "wharf.toml"
    with gateway_process(data_dir, profile, "--backend", "docker") as (process, url):
        deploy_with_profile(write_app(tmp_path, WARM_APP), profile)
        before = call(url, profile)
        process.send_signal(signal.SIGKILL)  # its containers run on
        process.wait(timeout=scaled(10))

    with gateway_process(data_dir, profile, "--backend", "docker") as (_, url):
        assert call(url, profile) == before  # the same container, taken on
        assert call(url, profile, call_back=True) == before  # and its token still works


def _running_containers(owner: str) -> list[str]:
    listed = subprocess.run(
        ["docker", "ps", "-q", "--filter", f"label=wharf.owner={owner}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def test_a_kill_9_of_the_gateway_stops_a_busy_container_within_5_s(tmp_path: Path) -> None:
    # Before: the container ran its CPU-bound function on to the end, for nobody, while the
    # restarted gateway ran the call again.
    data_dir, profile = tmp_path / "data", tmp_path / "wharf.toml"
    owner = backend_owner(data_dir)
    with gateway_process(data_dir, profile, "--backend", "docker") as (process, url):
        deploy_with_profile(write_app(tmp_path, BUSY_APP), profile)
        authorization = {"authorization": token_from(profile)}
        httpx.post(
            f"{url}/v1/apps/busy-app/functions/spin/calls",
            json={"args": ["/tmp/spinning.pid"]},  # noqa: S108 - inside the container
            headers={**authorization, "prefer": "respond-async"},
        )
        stats_url = f"{url}/v1/apps/busy-app/functions/spin/stats"

        def running() -> bool:
            stats = httpx.get(stats_url, headers=authorization).json()
            return bool(stats["num_running_inputs"] == 1)

        wait_until(running, timeout_s=scaled(60))
        (busy,) = _running_containers(owner)
        try:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=scaled(10))
            killed_at = time.monotonic()
            wait_until(lambda: busy not in _running_containers(owner), timeout_s=scaled(5) + 5)
            assert time.monotonic() - killed_at < scaled(5) + 1  # the grace, and the poll's slack
        finally:
            subprocess.run(["docker", "rm", "-f", busy], capture_output=True, check=False)
