"""A restart fails no caller: on SIGTERM the gateway answers everyone waiting with the call's
result URL, and callers read the result from the gateway that starts next. One gateway per data
dir, whose files are its owner's alone."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.e2e.test_recovery import gateway_process, token_from
from tests.helpers import scaled, wait_until, write_app

RESTART_APP = """
    import time

    import wharf as modal

    app = modal.App("restart-app")


    @app.function(max_containers=4)
    @modal.concurrent(max_inputs=10)
    def slow(value: str) -> str:
        time.sleep(8)  # longer than the 5 s a shutting-down gateway waits for requests
        return value
"""
CALLERS = 12


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _python_caller(environment: dict[str, str], value: str) -> subprocess.Popen[str]:
    code = (
        "import wharf as modal\n"
        f"print(modal.Function.from_name('restart-app', 'slow').remote({value!r}))\n"
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], env=environment, stdout=subprocess.PIPE, text=True
    )


def _curl_caller(url: str, authorization: str, value: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "curl", "-sS", "-L", "--retry", "10", "--retry-connrefused", "--retry-delay", "1",
            "-H", f"authorization: {authorization}", "-H", "content-type: application/json",
            "-d", f'{{"args": ["{value}"]}}',
            f"{url}/v1/apps/restart-app/functions/slow/calls",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def test_every_waiting_caller_gets_its_result_across_a_restart(tmp_path: Path) -> None:
    # Before: after 8 s the client raised ServerError HTTP 500 (graceful shutdown exceeded),
    # with no call id, though the call went on to succeed.
    port = _free_port()
    data_dir, profile = tmp_path / "data", tmp_path / "wharf.toml"
    environment = {**os.environ, "WHARF_CONFIG_PATH": str(profile)}
    with gateway_process(data_dir, profile, "--port", str(port)) as (process, url):
        subprocess.run(
            [sys.executable, "-m", "wharf", "deploy", str(write_app(tmp_path, RESTART_APP))],
            env=environment,
            check=True,
            capture_output=True,
            timeout=scaled(60),
        )
        authorization = token_from(profile)
        callers = [_python_caller(environment, f"py-{n}") for n in range(CALLERS)]
        callers += [_curl_caller(url, authorization, f"curl-{n}") for n in range(CALLERS)]
        running = _running_inputs(url, authorization)
        wait_until(lambda: running() >= CALLERS, timeout_s=30)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=scaled(30)) is not None
    with gateway_process(data_dir, profile, "--port", str(port)):
        outputs = [caller.communicate(timeout=scaled(60))[0].strip() for caller in callers]
    expected = [f"py-{n}" for n in range(CALLERS)] + [f'"curl-{n}"' for n in range(CALLERS)]
    assert outputs == expected


def _running_inputs(url: str, authorization: str) -> Callable[[], int]:
    import httpx

    def running() -> int:
        stats = httpx.get(
            f"{url}/v1/apps/restart-app/functions/slow/stats",
            headers={"authorization": authorization},
        )
        return int(stats.json()["num_running_inputs"]) + int(stats.json()["backlog"])

    return running


def test_a_second_gateway_on_the_same_data_dir_refuses_to_start(tmp_path: Path) -> None:
    data_dir, profile = tmp_path / "data", tmp_path / "wharf.toml"
    with gateway_process(data_dir, profile) as (process, _):
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "wharf_gateway",
                "server",
                "--port",
                "0",
                "--data-dir",
                str(data_dir),
            ],
            env={**os.environ, "WHARF_CONFIG_PATH": str(profile)},
            capture_output=True,
            text=True,
            timeout=scaled(30),
            check=False,
        )
        assert second.returncode == 2
        assert f"another gateway (pid {process.pid}) is running on {data_dir}" in second.stderr
        # Its files are its owner's alone.
        assert (data_dir.stat().st_mode & 0o777) == 0o700
        for name in ("wharf.db", "secrets.key"):
            assert ((data_dir / name).stat().st_mode & 0o777) == 0o600, name
