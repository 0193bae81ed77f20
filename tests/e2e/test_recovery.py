"""`kill -9` of the gateway: every accepted call still reaches exactly one final result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.helpers import scaled, wait_until, write_app

SLOW_APP = """
    import time

    import wharf as modal

    app = modal.App("slow-app")


    @app.function()
    def slow(seconds: float, value: str):
        time.sleep(seconds)
        return value
"""


@contextmanager
def gateway_process(
    data_dir: Path, profile: Path, *flags: str
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """`wharf server [flags]` in a process of its own; yields it and its URL."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wharf",
            "server",
            "--port",
            "0",
            "--data-dir",
            str(data_dir),
            *flags,
        ],
        env={**os.environ, "WHARF_CONFIG_PATH": str(profile)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            if "listening on " in line:
                url = line.split("listening on ")[1].split()[0]
                break
        assert url, "the gateway did not start"
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=scaled(20))
        if process.stdout is not None:
            process.stdout.close()


def agents_of(data_dir: Path) -> list[int]:
    """Pids of agent processes serving bundles from `data_dir`."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            environ = (entry / "environ").read_bytes()
        except (OSError, ValueError):
            continue
        if f"RUNNER_BUNDLE_PATH={data_dir}".encode() in environ:
            pids.append(int(entry.name))
    return pids


def deploy_with_profile(app_file: Path, profile: Path) -> None:
    """`wharf deploy` in a process of its own, with the gateway's profile."""
    subprocess.run(
        [sys.executable, "-m", "wharf", "deploy", str(app_file)],
        env={**os.environ, "WHARF_CONFIG_PATH": str(profile)},
        check=True,
        capture_output=True,
        timeout=scaled(60),
    )


def token_from(profile: Path) -> str:
    with profile.open("rb") as file:
        values = next(iter(tomllib.load(file).values()))
    return f"Bearer {values['token_id']}:{values['token_secret']}"


def test_calls_accepted_before_a_kill_9_all_finish_after_restart(tmp_path: Path) -> None:
    data_dir, profile = tmp_path / "data", tmp_path / "wharf.toml"
    app_file = write_app(tmp_path, SLOW_APP)
    with gateway_process(data_dir, profile) as (process, url):
        deploy_with_profile(app_file, profile)
        headers = {"authorization": token_from(profile), "prefer": "respond-async"}
        calls = f"{url}/v1/apps/slow-app/functions/slow/calls"
        finished = httpx.post(calls, json={"args": [0, "finished"]}, headers=headers)
        finished_id = finished.json()["call_id"]
        assert httpx.get(f"{url}/v1/calls/{finished_id}", headers=headers).json() == "finished"
        pending_ids = [
            httpx.post(calls, json={"args": [scaled(0.5), f"value-{n}"]}, headers=headers).json()[
                "call_id"
            ]
            for n in range(3)
        ]
        # Arguments over 2 MiB are kept as a blob, which the container fetches after restart.
        big = "b" * (3 * 1024 * 1024)
        big_id = httpx.post(
            calls, json={"args": [scaled(0.5), big]}, headers=headers, timeout=scaled(30)
        ).json()["call_id"]
        stats = f"{url}/v1/apps/slow-app/functions/slow/stats"
        wait_until(lambda: httpx.get(stats, headers=headers).json()["num_active_runners"])
        assert agents_of(data_dir)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=scaled(10))
        wait_until(lambda: not agents_of(data_dir))

    with gateway_process(data_dir, profile) as (_, url):
        headers = {"authorization": token_from(profile)}
        for n, call_id in enumerate(pending_ids):
            response = httpx.get(
                f"{url}/v1/calls/{call_id}",
                params={"timeout_s": scaled(30)},
                headers=headers,
                timeout=scaled(60),
            )
            assert response.status_code == 200, response.text
            assert response.json() == f"value-{n}"
            assert response.headers["wharf-call-status"] == "success"
            again = httpx.get(f"{url}/v1/calls/{call_id}", headers=headers)
            assert again.json() == f"value-{n}"
        big_result = httpx.get(
            f"{url}/v1/calls/{big_id}",
            params={"timeout_s": scaled(30)},
            headers=headers,
            timeout=scaled(60),
        )
        assert big_result.json() == big
        kept = httpx.get(f"{url}/v1/calls/{finished_id}", headers=headers)
        assert kept.json() == "finished"


BUSY_APP = """
    import os
    import time

    import wharf as modal

    app = modal.App("busy-app")


    @app.function()
    def spin(marker: str):
        with open(marker, "w") as file:
            file.write(str(os.getpid()))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # CPU-bound, holding the agent's loop
            pass
        return "never"
"""


def test_a_kill_9_of_the_gateway_stops_a_cpu_bound_function_within_5_s(tmp_path: Path) -> None:
    # Before: the agent never saw its standard input close while the function held its loop,
    # and ran on to the end while the restarted gateway ran the call again.
    data_dir, profile = tmp_path / "data", tmp_path / "wharf.toml"
    marker = tmp_path / "spinning.pid"
    with gateway_process(data_dir, profile) as (process, url):
        deploy_with_profile(write_app(tmp_path, BUSY_APP), profile)
        headers = {"authorization": token_from(profile), "prefer": "respond-async"}
        httpx.post(
            f"{url}/v1/apps/busy-app/functions/spin/calls",
            json={"args": [str(marker)]},
            headers=headers,
        )
        wait_until(lambda: marker.exists() and marker.read_text(), timeout_s=30)
        pid = int(marker.read_text())
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=scaled(10))
        killed_at = time.monotonic()
        wait_until(lambda: not Path(f"/proc/{pid}").exists(), timeout_s=10)
        assert time.monotonic() - killed_at < scaled(5) + 1  # the grace, and the poll's slack
