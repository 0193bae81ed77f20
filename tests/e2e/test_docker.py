"""The docker backend: real Docker containers from the runner base image, isolated and limited.

These need a Docker daemon and the runner base image (`deploy/runner-base/build.sh`); without
them they skip, unless `WHARF_REQUIRE_DOCKER=1` (as in CI), where that is a failure.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import wharf as modal
from wharf_gateway.server.config import BackendKind
from wharf_runner.backends.runtime_image import DEFAULT_BASE_IMAGE

from tests.helpers import RunningGateway, docker_problem, scaled, serving_app, wait_until

if (_problem := docker_problem()) is not None:
    pytest.skip(_problem, allow_module_level=True)

DOCKER_APP = """
    import os
    import resource

    import wharf as modal

    app = modal.App("boxed")


    def _status(field):
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return line.split()[1]


    @app.function()
    def facts() -> dict:
        try:
            open("/escape", "w").close()
            root = "writable"
        except OSError as exc:
            root = exc.strerror
        with open("/tmp/scratch", "w") as scratch:
            scratch.write("ok")
        return {
            "uid": os.getuid(),
            "capabilities": _status("CapEff"),
            "no_new_privileges": _status("NoNewPrivs"),
            "seccomp": _status("Seccomp"),
            "root": root,
            "docker_socket": os.path.exists("/var/run/docker.sock"),
            "open_files": resource.getrlimit(resource.RLIMIT_NOFILE),
        }


    @app.function()
    def reverse(data: bytes) -> bytes:
        return data[::-1]


    @app.function()
    def fork_bomb() -> str:
        children = []
        try:
            while len(children) < 5000:
                pid = os.fork()
                if pid == 0:
                    import time

                    time.sleep(30)
                    os._exit(0)
                children.append(pid)
        except OSError as exc:
            return f"stopped after {len(children)} processes: {exc.strerror}"
        finally:
            for pid in children:
                os.kill(pid, 9)
        return f"made {len(children)} processes"


    @app.function(memory=128, retries=0)
    def hog() -> int:
        chunks = []
        while True:
            chunks.append(bytearray(16 * 1024 * 1024))


    @app.function()
    def calls_another(x: int) -> int:
        # From inside its container, over the gateway's socket: the network is walled off.
        return modal.Function.from_name("boxed", "square").remote(x) + 1


    @app.function()
    def square(x: int) -> int:
        return x * x


    @app.function(secrets=[modal.Secret.from_dict({"BOXED_SECRET": "sealed-for-docker"})])
    def secret_value() -> str:
        return os.environ.get("BOXED_SECRET", "missing")


    @app.cls(scaledown_window=2)
    class Boxed:
        tag: str = modal.parameter()

        @modal.enter()
        def start(self):
            self.greeting = f"hello {self.tag} from uid {os.getuid()}"

        @modal.method()
        def greet(self) -> str:
            return self.greeting

        @modal.exit()
        def stop(self):
            print(f"exit hook of {self.tag}", flush=True)


    @app.function()
    @modal.asgi_app()
    def web():
        from starlette.applications import Starlette
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def hello(request):
            return JSONResponse({"hello": "from docker", "uid": os.getuid()})

        return Starlette(routes=[Route("/", hello)])
"""


@pytest.fixture(scope="module")
def docker_gateway(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningGateway]:
    monkeypatch = pytest.MonkeyPatch()
    tmp_path = tmp_path_factory.mktemp("docker")
    try:
        with serving_app(tmp_path, monkeypatch, DOCKER_APP, backend=BackendKind.DOCKER) as gateway:
            yield gateway
    finally:
        monkeypatch.undo()


def test_a_container_is_unprivileged_read_only_and_limited(docker_gateway: RunningGateway) -> None:
    facts = modal.Function.from_name("boxed", "facts").remote()

    assert facts["uid"] != 0
    assert int(facts["capabilities"], 16) == 0  # every capability dropped
    assert facts["no_new_privileges"] == "1"
    assert facts["seccomp"] == "2"  # Docker's default filter
    assert facts["root"] == "Read-only file system"
    assert facts["docker_socket"] is False
    assert tuple(facts["open_files"]) == (4096, 4096)


def test_the_containers_bridge_is_walled_off_from_the_host_and_metadata(
    docker_gateway: RunningGateway,
) -> None:
    import docker
    from wharf_runner.backends.docker_options import NETWORK

    modal.Function.from_name("boxed", "facts").remote()  # the network exists once one started
    client = docker.from_env()
    with contextlib.closing(client):
        bridge = f"br-{client.networks.get(NETWORK).id[:12]}"
    forward = subprocess.run(["iptables", "-S", "DOCKER-USER"], capture_output=True, text=True)
    host = subprocess.run(["iptables", "-S", "INPUT"], capture_output=True, text=True)

    assert f"-d 169.254.169.254/32 -i {bridge} -j DROP" in forward.stdout
    assert f"-i {bridge} -m conntrack --ctstate NEW -j DROP" in host.stdout


def test_a_function_calls_another_from_its_container(docker_gateway: RunningGateway) -> None:
    assert modal.Function.from_name("boxed", "calls_another").remote(6) == 37


def test_large_arguments_and_results_travel_as_blobs_to_and_from_a_container(
    docker_gateway: RunningGateway,
) -> None:
    data = os.urandom(6 * 1024 * 1024)  # over the 2 MiB inline limit both ways
    assert modal.Function.from_name("boxed", "reverse").remote(data) == data[::-1]


def test_a_secret_reaches_the_container_environment(docker_gateway: RunningGateway) -> None:
    assert modal.Function.from_name("boxed", "secret_value").remote() == "sealed-for-docker"


def test_a_class_enters_with_its_parameters_and_exits_on_scale_down(
    docker_gateway: RunningGateway,
) -> None:
    from wharf._apps import app_logs
    from wharf._http import run_flow

    greeting = modal.Cls.from_name("boxed", "Boxed")(tag="docker").greet.remote()
    assert greeting.startswith("hello docker from uid ")
    assert not greeting.endswith(" 0")

    def exited() -> bool:
        return any("exit hook of docker" in line["line"] for line in run_flow(app_logs("boxed")))

    wait_until(exited, timeout_s=25)


def test_a_fork_bomb_hits_the_process_limit(docker_gateway: RunningGateway) -> None:
    outcome = modal.Function.from_name("boxed", "fork_bomb").remote()

    assert outcome.startswith("stopped after "), outcome
    assert int(outcome.split()[2]) < 600
    # The container is fine afterwards.
    assert modal.Function.from_name("boxed", "facts").remote()["uid"] != 0


def test_a_memory_hog_is_reported_as_out_of_memory(docker_gateway: RunningGateway) -> None:
    with pytest.raises(modal.ExecutionError, match="it ran out of memory: its limit is 128 MiB"):
        modal.Function.from_name("boxed", "hog").remote()

    def logged() -> bool:
        logs = httpx.get(
            f"{docker_gateway.url}/v1/apps/boxed/logs",
            headers={"authorization": docker_gateway.authorization},
        ).json()
        return "it ran out of memory: its limit is 128 MiB" in str(logs)

    wait_until(logged, timeout_s=20)


def test_a_web_endpoint_is_served_from_docker(docker_gateway: RunningGateway) -> None:
    response = httpx.get(f"{docker_gateway.url}/web/main--boxed-web/", timeout=60)

    assert response.json()["hello"] == "from docker"
    assert response.json()["uid"] != 0


def test_containers_of_an_earlier_run_are_removed(tmp_path: Path) -> None:
    import docker
    from wharf_gateway.server.app import backend_owner

    monkeypatch = pytest.MonkeyPatch()
    data_dir = tmp_path / "data"
    owner = backend_owner(data_dir)
    client = docker.from_env()
    with contextlib.closing(client):
        stale = client.containers.create(
            DEFAULT_BASE_IMAGE, ["sleep", "60"], labels={"wharf.owner": owner}
        )
        try:
            with serving_app(tmp_path, monkeypatch, DOCKER_APP, backend=BackendKind.DOCKER):
                assert modal.Function.from_name("boxed", "facts").remote()["uid"] != 0
                remaining = client.containers.list(all=True, filters={"id": stale.id})
                assert remaining == []
        finally:
            monkeypatch.undo()
            with contextlib.suppress(docker.errors.NotFound):
                stale.remove(force=True)


def test_the_gateway_image_serves(tmp_path: Path) -> None:
    import docker

    from tests.helpers import REPOSITORY

    client = docker.from_env()
    with contextlib.closing(client):
        built = subprocess.run(
            [str(REPOSITORY / "deploy" / "gateway" / "build.sh"), "wharf-gateway:test"],
            env={**os.environ, "PYTHON": sys.executable},
            capture_output=True,
            text=True,
            timeout=scaled(600),
            check=False,
        )
        assert built.returncode == 0, built.stderr
        image = client.images.get("wharf-gateway:test")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        gateway = client.containers.run(
            image.id,
            ["server", "--backend", "local", "--port", str(port)],
            network_mode="host",
            detach=True,
        )
        try:

            def healthy() -> bool:
                try:
                    return httpx.get(f"http://127.0.0.1:{port}/v1/health").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(healthy, timeout_s=30)
            assert "Created workspace 'main'" in gateway.logs().decode()
        finally:
            gateway.remove(force=True)
