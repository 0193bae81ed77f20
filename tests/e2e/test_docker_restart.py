"""A gateway that restarts takes on the healthy containers its earlier run left (found by their
labels), so their functions answer at once, warm; containers it cannot use are removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_recovery import gateway_process, token_from
from tests.helpers import docker_problem, scaled, write_app

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
        subprocess.run(
            [sys.executable, "-m", "wharf", "deploy", str(write_app(tmp_path, WARM_APP))],
            env={**os.environ, "WHARF_CONFIG_PATH": str(profile)},
            check=True,
            capture_output=True,
            timeout=scaled(60),
        )
        before = call(url, profile)
        process.send_signal(signal.SIGKILL)  # its containers run on
        process.wait(timeout=scaled(10))

    with gateway_process(data_dir, profile, "--backend", "docker") as (_, url):
        assert call(url, profile) == before  # the same container, taken on
        assert call(url, profile, call_back=True) == before  # and its token still works
