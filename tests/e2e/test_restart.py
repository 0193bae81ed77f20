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

import pytest

from tests.e2e.test_recovery import deploy_with_profile, gateway_process, token_from
from tests.helpers import scaled, wait_until, write_app

RESTART_APP = """
    import asyncio
    import time

    import wharf as modal

    app = modal.App("restart-app")


    @app.function(max_containers=4)
    @modal.concurrent(max_inputs=50)
    def slow(value: str) -> str:
        time.sleep(8)  # longer than the 5 s a shutting-down gateway waits for requests
        return value


    @app.function(max_containers=4)
    @modal.concurrent(max_inputs=50)
    @modal.fastapi_endpoint()
    async def page(value: str) -> dict[str, str]:
        await asyncio.sleep(8)
        return {"page": value}
"""
CALLERS = 50
#: Calls the Python callers make, each on a thread of one process, printed in order.
PYTHON_CALLERS = f"""
from concurrent.futures import ThreadPoolExecutor

import wharf as modal

slow = modal.Function.from_name("restart-app", "slow")
with ThreadPoolExecutor({CALLERS}) as pool:
    for value in pool.map(slow.remote, [f"py-{{n}}" for n in range({CALLERS})]):
        print(value)
"""
#: curl's patience through a restart, as the README shows it.
CURL_RETRIES = ["-sS", "-L", "--retry", "30", "--retry-delay", "1", "--retry-connrefused"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _curl_caller(url: str, authorization: str, value: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            "curl", *CURL_RETRIES,
            "-H", f"authorization: {authorization}", "-H", "content-type: application/json",
            "-H", f"idempotency-key: {value}",  # curl's retry sends the POST again
            "-d", f'{{"args": ["{value}"]}}',
            f"{url}/v1/apps/restart-app/functions/slow/calls",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def _web_caller(url: str, value: str) -> subprocess.Popen[str]:
    page_url = f"{url}/web/main--restart-app-page/?value={value}"
    return subprocess.Popen(["curl", *CURL_RETRIES, page_url], stdout=subprocess.PIPE, text=True)


@pytest.mark.timeout(scaled(150))
def test_every_waiting_caller_gets_its_result_across_a_restart(tmp_path: Path) -> None:
    # Before: after 8 s the client raised ServerError HTTP 500 (graceful shutdown exceeded),
    # with no call id, though the call went on to succeed; a web endpoint's caller got
    # "the gateway restarted while this web request ran".
    port = _free_port()
    data_dir, profile = tmp_path / "data", tmp_path / "wharf.toml"
    environment = {**os.environ, "WHARF_CONFIG_PATH": str(profile)}
    with gateway_process(data_dir, profile, "--port", str(port)) as (process, url):
        deploy_with_profile(write_app(tmp_path, RESTART_APP), profile)
        authorization = token_from(profile)
        callers = [
            subprocess.Popen(
                [sys.executable, "-c", PYTHON_CALLERS],
                env=environment,
                stdout=subprocess.PIPE,
                text=True,
            )
        ]
        callers += [_curl_caller(url, authorization, f"curl-{n}") for n in range(CALLERS)]
        callers += [_web_caller(url, f"web-{n}") for n in range(CALLERS)]
        slow_running = _running_inputs(url, authorization, "slow")
        pages_running = _running_inputs(url, authorization, "page")
        wait_until(lambda: slow_running() >= 2 * CALLERS, timeout_s=scaled(60))
        wait_until(lambda: pages_running() >= CALLERS, timeout_s=scaled(60))
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=scaled(60)) is not None
    with gateway_process(data_dir, profile, "--port", str(port)):
        outputs = [caller.communicate(timeout=scaled(90))[0].strip() for caller in callers]
    expected = ["\n".join(f"py-{n}" for n in range(CALLERS))]
    expected += [f'"curl-{n}"' for n in range(CALLERS)]
    expected += [f'{{"page":"web-{n}"}}' for n in range(CALLERS)]
    assert outputs == expected


def _running_inputs(url: str, authorization: str, function: str) -> Callable[[], int]:
    import httpx

    def running() -> int:
        stats = httpx.get(
            f"{url}/v1/apps/restart-app/functions/{function}/stats",
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
