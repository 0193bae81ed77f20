"""Containers come and go with the work; big payloads and workspaces stay apart."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import httpx
import pytest
import wharf as modal
from wharf_gateway.server.bootstrap import create_workspace

from tests.helpers import (
    RunningGateway,
    deploy_file,
    scaled,
    serving_app,
    wait_until,
    write_app,
)

POOL_APP = """
    import os

    import wharf as modal

    app = modal.App("pool-app")


    @app.function(scaledown_window=2)
    def pid():
        return os.getpid()


    @app.function()
    def echo(data: bytes) -> bytes:
        return data[::-1]
"""


@pytest.fixture
def pool_app(client_env: RunningGateway, tmp_path: Path) -> None:
    deploy_file(write_app(tmp_path, POOL_APP))


def test_warm_container_is_reused_then_stopped_after_its_scaledown_window(pool_app: None) -> None:
    pid = modal.Function.from_name("pool-app", "pid")
    first = pid.remote()
    assert pid.remote() == first
    assert pid.get_current_stats().num_total_runners == 1
    wait_until(lambda: pid.get_current_stats().num_total_runners == 0, timeout_s=15)
    wait_until(lambda: not is_alive(first))
    assert pid.remote() != first


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_payloads_over_two_mib_round_trip_through_blob_files(
    pool_app: None, client_env: RunningGateway
) -> None:
    data = os.urandom(3 * 1024 * 1024)
    echo = modal.Function.from_name("pool-app", "echo")
    assert echo.remote(data) == data[::-1]
    call = echo.spawn(data)
    assert call.get(timeout=scaled(30)) == data[::-1]
    blobs = list((client_env.config.data_dir / "blobs").rglob("*"))
    assert sum(1 for path in blobs if path.is_file() and path.stat().st_size > len(data)) >= 2


def test_another_workspace_sees_an_unknown_id_for_everything(
    pool_app: None, client_env: RunningGateway
) -> None:
    call = modal.Function.from_name("pool-app", "pid").spawn()
    other = asyncio.run(create_workspace(client_env.config, "other"))
    headers = {"authorization": f"Bearer {other.token_id}:{other.secret}"}
    base = client_env.url
    for method, path in [
        ("GET", "/v1/apps/pool-app"),
        ("GET", "/v1/apps/pool-app/functions/pid"),
        ("POST", "/v1/apps/pool-app/functions/pid/calls"),
        ("GET", f"/v1/calls/{call.object_id}"),
        ("GET", f"/v1/calls/{call.object_id}/graph"),
        ("DELETE", f"/v1/calls/{call.object_id}"),
        ("GET", "/v1/apps/pool-app/logs"),
        ("DELETE", "/v1/apps/pool-app"),
    ]:
        response = httpx.request(method, f"{base}{path}", headers=headers, json={})
        assert response.status_code == 404, (method, path)
    assert httpx.get(f"{base}/v1/apps", headers=headers).json() == {"apps": []}
    assert call.get(timeout=scaled(20)) > 0


def test_a_wrong_token_raises_auth_error_in_python(
    pool_app: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WHARF_TOKEN_SECRET", "ws-wrong")
    with pytest.raises(modal.AuthError, match="not valid"):
        modal.Function.from_name("pool-app", "pid").remote()


def test_an_argument_over_the_body_limit_raises_invalid_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    with serving_app(tmp_path, monkeypatch, POOL_APP, max_body_bytes=64 * 1024):
        with pytest.raises(modal.InvalidError, match="over the limit"):
            modal.Function.from_name("pool-app", "echo").remote(b"x" * 100_000)


CAPPED_APP = """
    import time

    import wharf as modal

    app = modal.App("capped-app")


    @app.function()
    def sleepy(seconds: float) -> float:
        time.sleep(seconds)
        return seconds


    @app.function()
    def other() -> str:
        return "ran"
"""


def test_containers_stay_under_the_total_cap_and_idle_ones_make_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    with serving_app(tmp_path, monkeypatch, CAPPED_APP, max_total_containers=2):
        sleepy = modal.Function.from_name("capped-app", "sleepy")
        calls = [sleepy.spawn(0.3) for _ in range(6)]
        most = 0
        while not all(_is_done(call) for call in calls):
            most = max(most, sleepy.get_current_stats().num_total_runners)
        assert 1 <= most <= 2
        assert modal.gather(*calls) == [0.3] * 6
        # Both slots hold idle `sleepy` containers now; `other` gets one of them.
        assert modal.Function.from_name("capped-app", "other").remote() == "ran"


def _is_done(call: modal.FunctionCall) -> bool:
    try:
        call.get(timeout=0.05)
    except TimeoutError:
        return False
    return True


ISOLATION_APP = """
    import os

    import wharf as modal

    app = modal.App("isolation-app")


    @app.function()
    def environment() -> dict:
        return {name: os.environ.get(name) for name in ("DATABASE_PASSWORD", "RUNNER_AGENT_SECRET")}


    @app.function()
    def big(size: int) -> bytes:
        return b"x" * size
"""


def test_containers_get_neither_the_gateways_environment_nor_the_agent_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    environment = {**os.environ, "DATABASE_PASSWORD": "hunter2"}
    with serving_app(tmp_path, monkeypatch, ISOLATION_APP, runner_environment=environment):
        seen = modal.Function.from_name("isolation-app", "environment").remote()
    assert seen == {"DATABASE_PASSWORD": None, "RUNNER_AGENT_SECRET": None}


def test_an_agent_refuses_inputs_without_its_secret(
    client_env: RunningGateway, tmp_path: Path
) -> None:
    import asyncio

    from wharf_runner import AgentConnection, AgentUnreachable, Input, PayloadFormat

    deploy_file(write_app(tmp_path, ISOLATION_APP))
    function = modal.Function.from_name("isolation-app", "environment")
    assert function.remote()["DATABASE_PASSWORD"] is None
    agents = [int(line.split()[1]) for line in _listening_agents()]
    assert agents

    async def send(port: int) -> None:
        connection = AgentConnection("127.0.0.1", port, "ct-test", 1 << 20, "wrong-secret")
        item = Input("in-x", "fc-x", "environment", PayloadFormat.JSON, b"{}", True, False)
        try:
            await connection.run_batch([item])
        finally:
            connection.close()

    for port in agents:
        with pytest.raises(AgentUnreachable, match="401"):
            asyncio.run(send(port))


def _listening_agents() -> list[str]:
    """`pid port` of each local agent process listening on loopback, from /proc (agents of
    Docker containers, in network namespaces of their own, are not these)."""
    found: list[str] = []
    own_network = os.readlink("/proc/self/ns/net")
    for entry in Path("/proc").iterdir():
        try:
            if b"RUNNER_AGENT_SECRET" not in (entry / "environ").read_bytes():
                continue
            if os.readlink(entry / "ns" / "net") != own_network:
                continue
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, ValueError):
            continue
        if b"runner" in cmdline:
            found.extend(f"{entry.name} {port}" for port in _ports_of(int(entry.name)))
    return found


def _ports_of(pid: int) -> list[int]:
    inodes = set()
    for fd in (Path("/proc") / str(pid) / "fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for line in (Path("/proc") / str(pid) / "net" / "tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:
            ports.append(int(fields[1].split(":")[1], 16))
    return ports


def test_a_result_over_the_gateways_limit_is_the_calls_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:

    with serving_app(tmp_path, monkeypatch, ISOLATION_APP, max_body_bytes=256 * 1024):
        big = modal.Function.from_name("isolation-app", "big")
        assert big.remote(1000) == b"x" * 1000
        with pytest.raises(ValueError, match="over the gateway's limit"):
            big.remote(1024 * 1024)
        assert big.remote(10) == b"x" * 10


WARM_APP = """
    import os

    import wharf as modal

    app = modal.App("warm-app")


    @app.function(min_containers=1)
    def warm() -> int:
        return os.getpid()


    @app.function(min_containers=1)
    def broken() -> int:
        return 1


    if os.environ.get("RUNNER_FUNCTION") == "broken":
        raise RuntimeError("broken refuses to start")
"""


def test_min_containers_start_at_deploy_and_failing_starts_back_off(
    client_env: RunningGateway, tmp_path: Path
) -> None:
    from wharf._apps import app_logs
    from wharf._http import run_flow

    deploy_file(write_app(tmp_path, WARM_APP))
    warm = modal.Function.from_name("warm-app", "warm")
    wait_until(lambda: warm.get_current_stats().num_total_runners == 1, timeout_s=20)
    pid = warm.remote()
    assert warm.remote() == pid

    def first_failures() -> list[float]:
        firsts: dict[str, float] = {}
        for line in run_flow(app_logs("warm-app")):
            if "broken refuses to start" in line["line"]:
                firsts.setdefault(line["container_id"], line["created_at"])
        return sorted(firsts.values())

    failures = wait_until(lambda: len(first_failures()) >= 2 and first_failures(), timeout_s=20)
    # The sweep runs every 0.1 s here; only the back-off keeps the second try a second away.
    assert failures[1] - failures[0] >= 1.5
