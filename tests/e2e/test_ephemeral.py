"""Ephemeral apps (`wharf run`, `wharf serve`) live only while their client does: the client
renews a lease, and an app whose lease runs out (its client was killed) is stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.helpers import (
    RunningGateway,
    gateway_config,
    run_wharf,
    running_gateway,
    scaled,
    wait_until,
    write_app,
)

LONG_APP = """
    import time

    import wharf as modal

    app = modal.App("long-run")


    @app.function()
    @modal.web_endpoint()
    def hello():
        return "hello"


    @app.local_entrypoint()
    def main():
        print("running", flush=True)
        time.sleep(120)
"""

LEASE_S = 2.0


@pytest.fixture
def leased(tmp_path: Path) -> Iterator[RunningGateway]:
    with running_gateway(gateway_config(tmp_path / "data", ephemeral_lease_s=LEASE_S)) as gateway:
        yield gateway


@contextmanager
def wharf_process(gateway: RunningGateway, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`wharf ARGS` in a process of its own, once it printed "running" or "Watching"."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wharf", *args],
        env={**os.environ, **gateway.client_environment, "WHARF_CONFIG_PATH": "/nonexistent"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        for line in process.stdout:
            if "running" in line or "Watching for changes" in line:
                break
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _state(gateway: RunningGateway, name: str) -> str | None:
    apps = httpx.get(
        f"{gateway.url}/v1/apps", headers={"authorization": gateway.authorization}
    ).json()["apps"]
    states = [app["state"] for app in apps if app["name"] == name]
    return states[0] if states else None


def test_a_killed_clients_app_is_stopped_when_its_lease_runs_out(
    leased: RunningGateway, tmp_path: Path
) -> None:
    # Before: after SIGKILL of `wharf run`, the app and its -dev endpoint served on for ever.
    app = write_app(tmp_path, LONG_APP)
    with wharf_process(leased, "run", str(app)) as process:
        endpoint = f"{leased.url}/web/main--long-run-hello-dev/"
        assert httpx.get(endpoint, timeout=30).json() == "hello"
        # Time itself is what is tested here: a live client outlives two leases by renewing.
        time.sleep(scaled(2 * LEASE_S))
        assert _state(leased, "long-run") == "ephemeral"
        process.kill()
        killed_at = time.monotonic()
        wait_until(lambda: _state(leased, "long-run") == "stopped", timeout_s=10)
        assert time.monotonic() - killed_at < scaled(LEASE_S + 3)
        assert httpx.get(endpoint, timeout=30).status_code == 404


def test_sigterm_stops_the_app_at_once(leased: RunningGateway, tmp_path: Path) -> None:
    path = write_app(tmp_path, LONG_APP.replace("long-run", "served-app"))
    with wharf_process(leased, "serve", str(path)) as process:
        assert _state(leased, "served-app") == "ephemeral"
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=scaled(30)) == 130
        assert _state(leased, "served-app") == "stopped"


def test_app_stop_finds_an_ephemeral_app_by_name(leased: RunningGateway, tmp_path: Path) -> None:
    app = write_app(tmp_path, LONG_APP.replace("long-run", "by-name"))
    with wharf_process(leased, "run", str(app)):
        environment = {**leased.client_environment, "WHARF_CONFIG_PATH": "/nonexistent"}
        stopped = run_wharf(["app", "stop", "by-name"], environment)
        assert stopped.returncode == 0, stopped.stderr
        assert _state(leased, "by-name") == "stopped"
