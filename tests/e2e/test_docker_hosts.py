"""Several Docker hosts: containers spread over them, and a host that goes away has its inputs
retried on another. The second host is a second Docker daemon on this machine, with its own
socket, data root and bridge (it needs root, as the Docker tests do)."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import wharf as modal
from wharf_gateway.server.app import backend_owner
from wharf_gateway.server.config import BackendKind
from wharf_runner.backends.runtime_image import DEFAULT_BASE_IMAGE

from tests.helpers import docker_problem, serving_app, wait_until

if (problem := docker_problem()) is not None:
    pytest.skip(problem, allow_module_level=True)

HOSTS_APP = """
    import socket
    import time

    import wharf as modal

    app = modal.App("hosts")


    @app.function()
    def where(seconds: float) -> str:
        print("working on", socket.gethostname(), flush=True)
        time.sleep(seconds)
        return socket.gethostname()
"""


@contextlib.contextmanager
def second_docker_daemon() -> Iterator[tuple[str, Path]]:
    """A Docker daemon of its own (socket, data, bridge, no firewall rules), with the runner
    base image; yields its URL and its folder (short: socket paths are limited to 108 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="wd-", dir="/tmp"))
    bridge = f"wharf-t{uuid.uuid4().hex[:6]}"
    subnet = 200 + int(uuid.uuid4().int % 50)
    socket_path = folder / "docker.sock"
    subprocess.run(["ip", "link", "add", bridge, "type", "bridge"], check=True)
    subprocess.run(["ip", "addr", "add", f"10.{subnet}.0.1/24", "dev", bridge], check=True)
    subprocess.run(["ip", "link", "set", bridge, "up"], check=True)
    daemon = subprocess.Popen(
        [
            "dockerd",
            "-H",
            f"unix://{socket_path}",
            "--data-root",
            str(folder / "data"),
            "--exec-root",
            str(folder / "exec"),
            "--pidfile",
            str(folder / "docker.pid"),
            "-b",
            bridge,
            "--iptables=false",
            "--ip-masq=false",
            "--default-address-pool",
            f"base=10.{subnet + 1}.0.0/16,size=24",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"unix://{socket_path}"
    try:

        def answers() -> bool:
            info = subprocess.run(["docker", "-H", url, "info"], capture_output=True)
            return info.returncode == 0

        wait_until(answers, timeout_s=60, interval_s=0.2)
        load = ["docker", "-H", url, "load"]
        with subprocess.Popen(
            ["docker", "save", DEFAULT_BASE_IMAGE], stdout=subprocess.PIPE
        ) as saved:
            subprocess.run(load, stdin=saved.stdout, check=True, capture_output=True)
        yield url, folder
    finally:
        daemon.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(timeout=30)
        daemon.kill()
        daemon.wait()
        # A daemon killed outright leaves its containerd, shims and mounts behind.
        subprocess.run(["pkill", "-9", "-f", str(folder)], check=False)
        mounts = Path("/proc/mounts").read_text().split("\n")
        for target in sorted(
            (line.split()[1] for line in mounts if str(folder) in line), reverse=True
        ):
            subprocess.run(["umount", "-l", target], check=False)
        subprocess.run(["ip", "link", "del", bridge], check=False)
        shutil.rmtree(folder, ignore_errors=True)


def containers_on(url: str, owner: str) -> list[str]:
    listed = subprocess.run(
        ["docker", "-H", url, "ps", "-q", "--filter", f"label=wharf.owner={owner}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout.split()


def test_containers_spread_over_the_hosts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with second_docker_daemon() as (second, _):
        hosts = ("unix:///var/run/docker.sock", second)
        with serving_app(
            tmp_path, monkeypatch, HOSTS_APP, backend=BackendKind.DOCKER, docker_hosts=hosts
        ) as gateway:
            where = modal.Function.from_name("hosts", "where")
            with ThreadPoolExecutor(2) as pool:
                names = list(pool.map(lambda _: where.remote(2.0), range(2)))
            owner = backend_owner(gateway.config.data_dir)
            first_host, second_host = (containers_on(url, owner) for url in hosts)

    assert len(set(names)) == 2  # two containers
    assert len(first_host) == 1
    assert len(second_host) == 1


def test_inputs_of_a_host_that_goes_away_are_retried_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with contextlib.ExitStack() as stack:
        second, folder = stack.enter_context(second_docker_daemon())
        daemon_pid = int((folder / "docker.pid").read_text())
        hosts = (second, "unix:///var/run/docker.sock")  # the first container goes to `second`
        gateway = stack.enter_context(
            serving_app(
                tmp_path, monkeypatch, HOSTS_APP, backend=BackendKind.DOCKER, docker_hosts=hosts
            )
        )
        owner = backend_owner(gateway.config.data_dir)
        call = modal.Function.from_name("hosts", "where").spawn(4.0)

        def working() -> bool:
            logs = httpx.get(
                f"{gateway.url}/v1/apps/hosts/logs",
                headers={"authorization": gateway.authorization},
            )
            return "working on" in logs.text

        wait_until(working, timeout_s=30)
        (container,) = containers_on(second, owner)
        inspected = ["docker", "-H", second, "inspect", "-f", "{{.State.Pid}}", container]
        container_pid = subprocess.run(inspected, capture_output=True, text=True, check=True)
        # The host crashes mid-input: its Docker daemon and the container die without a word.
        subprocess.run(["kill", "-9", str(daemon_pid), container_pid.stdout.strip()], check=True)

        assert call.get(timeout=60)  # retried on the other host, and finished there
        assert containers_on(hosts[1], owner)


def test_a_host_that_does_not_answer_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hosts = (f"unix://{tmp_path}/no-docker-here.sock", "unix:///var/run/docker.sock")
    with serving_app(
        tmp_path, monkeypatch, HOSTS_APP, backend=BackendKind.DOCKER, docker_hosts=hosts
    ) as gateway:
        assert modal.Function.from_name("hosts", "where").remote(0.0)
        owner = backend_owner(gateway.config.data_dir)
        assert containers_on(hosts[1], owner)
