"""The `docker` backend: each container is a Docker container, isolated from the host and from
the others.

Every container runs as an unprivileged user with all capabilities dropped, `no-new-privileges`,
Docker's default seccomp profile, a read-only root filesystem with a writable `/tmp`, and limits on
memory, CPU, processes and open files. It never sees the Docker socket. Its ports are published on
127.0.0.1 only, and it sits on a bridge network of its own where containers cannot reach each
other. The Docker SDK blocks, so its calls run in threads; each container has two more threads, one
reading its output and one waiting for its exit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import io
import logging
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import docker.types
import orjson
import requests

from wharf_runner.agent.main import READY_MARKER
from wharf_runner.backends.base import (
    AdoptedContainer,
    ContainerAddress,
    ContainerEvents,
    ContainerSpec,
    ImageRecipe,
    LogStream,
)
from wharf_runner.backends.runtime_image import DEFAULT_BASE_IMAGE, ensure_runtime_image
from wharf_runner.channel.connection import AgentConnection
from wharf_runner.errors import ContainerStartFailed, HostUnreachable, ImageBuildFailed

logger = logging.getLogger(__name__)

#: Ports of the agent and of the web app inside every container.
AGENT_PORT = 8000
WEB_PORT = 8001
#: Label on everything this backend creates; the value is the owning gateway's id.
OWNER_LABEL = "wharf.owner"
#: Where containers find the gateway's Unix socket.
GATEWAY_SOCKET_DIR = "/run/wharf"
#: Where the app's bundle is put (a volume of the container's own: the root is read-only).
BUNDLE_DIR = "/wharf"
#: Defaults where a function asks for no limit of its own.
DEFAULT_MEMORY_MB = 2048
DEFAULT_CPUS = 1.0
PIDS_LIMIT = 512
OPEN_FILES_LIMIT = 4096
TMP_SIZE = "1g"
#: The user containers run as (created in the runner base image).
CONTAINER_USER = "1000:1000"
NETWORK = "wharf-runners"
#: Limits of image builds (their steps are user code).
BUILD_MEMORY_BYTES = 4 * 1024**3
BUILD_TIMEOUT_S = 1800
BUILDS_AT_ONCE = 2
#: Longest log line passed on; a longer one is cut into pieces.
MAX_LOG_LINE_BYTES = 64 * 1024
#: What image builds take of the gateway's environment: where pip finds packages.
_BUILD_ARGS = frozenset({"PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL"})


@dataclass(slots=True)
class _Running:
    container: Any
    ready: asyncio.Future[dict[str, Any]]
    threads: list[threading.Thread] = field(default_factory=list)
    memory_mb: int = DEFAULT_MEMORY_MB


class DockerBackend:
    """Runs containers on one Docker host."""

    def __init__(
        self,
        events: ContainerEvents,
        *,
        docker_host: str | None = None,
        owner: str = "wharf",
        base_image: str = DEFAULT_BASE_IMAGE,
        build_args: Mapping[str, str] | None = None,
        publish_host: str = "127.0.0.1",
        gateway_socket: Path | None = None,
    ) -> None:
        self._events = events
        #: The gateway's Unix socket, mounted into containers so they can call it back.
        self._gateway_socket = gateway_socket
        #: Where the host publishes containers' ports: its loopback, or its private address.
        self._publish_host = publish_host
        self._client = (
            docker.DockerClient(base_url=docker_host) if docker_host else docker.from_env()
        )
        self._owner = owner
        self._base_image = base_image
        self._build_args = {
            name: value for name, value in (build_args or {}).items() if name in _BUILD_ARGS
        }
        self._prepared = False
        #: Runtime images (Wharf's code on top) by the image they were made from.
        self._runtime: dict[str, str] = {}
        #: Images known to be on the host.
        self._images: set[str] = set()
        self._lock = asyncio.Lock()
        self._running: dict[str, _Running] = {}
        self._builds = concurrent.futures.ThreadPoolExecutor(
            BUILDS_AT_ONCE, thread_name_prefix="wharf-build"
        )

    async def _prepare(self) -> None:
        """The first time: the network and its firewall rules."""
        async with self._lock:
            if not self._prepared:
                await asyncio.to_thread(self._prepare_host)
                self._prepared = True

    async def _runtime_image(self, image: str | None) -> str:
        """The image a container starts from: `image` (or the runner base) with Wharf's code."""
        base = image or self._base_image
        await self._prepare()
        async with self._lock:
            if base not in self._runtime:
                self._runtime[base] = await asyncio.to_thread(self._ensure_runtime, base)
            return self._runtime[base]

    def _ensure_runtime(self, base: str) -> str:
        try:
            return ensure_runtime_image(self._client, base)
        except docker.errors.ImageNotFound as exc:
            hint = (
                " (build it with deploy/runner-base/build.sh)" if base == self._base_image else ""
            )
            raise ContainerStartFailed("-", f"the image {base} is missing{hint}") from exc

    @property
    def builds_images(self) -> bool:
        return True

    async def has_image(self, tag: str) -> bool:
        # Images are named by content and not removed here: one seen is there for good, and
        # the question (asked before every start on several hosts) costs no more API calls.
        if tag in self._images:
            return True

        def exists() -> bool:
            try:
                self._client.images.get(tag)
            except docker.errors.ImageNotFound:
                return False
            return True

        if await asyncio.to_thread(exists):
            self._images.add(tag)
            return True
        return False

    async def build_image(self, recipe: ImageRecipe, on_log: Callable[[str], None]) -> None:
        loop = asyncio.get_running_loop()

        def log(text: str) -> None:
            for line in text.rstrip("\n").split("\n"):
                loop.call_soon_threadsafe(on_log, line)

        def build() -> None:
            try:
                for chunk in self._client.api.build(
                    fileobj=io.BytesIO(_build_context(recipe)),
                    custom_context=True,
                    tag=recipe.tag,
                    rm=True,
                    forcerm=True,
                    decode=True,
                    buildargs=self._build_args,
                    labels={OWNER_LABEL: self._owner},
                    # Build steps are user code: on the walled-off network, with limits.
                    network_mode=NETWORK,
                    container_limits={
                        "memory": BUILD_MEMORY_BYTES,
                        "memswap": BUILD_MEMORY_BYTES,
                        "cpushares": 512,
                    },
                    timeout=BUILD_TIMEOUT_S,
                ):
                    if "stream" in chunk:
                        log(str(chunk["stream"]))
                    if "error" in chunk:
                        log(str(chunk["error"]))
                        raise ImageBuildFailed(str(chunk["error"]).strip())
            except docker.errors.DockerException as exc:
                log(str(exc))
                raise ImageBuildFailed(str(exc)) from exc

        await self._prepare()  # the network builds run on
        # Builds have threads of their own: slow ones must not hold up starting containers.
        await loop.run_in_executor(self._builds, build)
        self._images.add(recipe.tag)

    def _prepare_host(self) -> None:
        networks = self._client.networks.list(names=[NETWORK])
        network = (
            networks[0]
            if networks
            else self._client.networks.create(
                NETWORK,
                driver="bridge",
                options={"com.docker.network.bridge.enable_icc": "false"},
                labels={OWNER_LABEL: self._owner},
            )
        )
        if self._publish_host == "127.0.0.1":  # the Docker host is this machine
            wall_off(f"br-{network.id[:12]}")

    async def start(self, spec: ContainerSpec) -> ContainerAddress:
        image = await self._runtime_image(spec.image)
        loop = asyncio.get_running_loop()
        running = _Running(
            container=None,
            ready=loop.create_future(),
            memory_mb=spec.memory_mb or DEFAULT_MEMORY_MB,
        )
        self._running[spec.container_id] = running
        try:
            running.container = await asyncio.to_thread(self._create, spec, image)
            await asyncio.to_thread(self._start, spec, running, loop)
            async with asyncio.timeout(spec.startup_timeout_s):
                report = await running.ready
        except TimeoutError as exc:
            await self._discard(spec.container_id, running)
            raise ContainerStartFailed(
                spec.container_id, f"not ready within {spec.startup_timeout_s} s"
            ) from exc
        except (requests.exceptions.ConnectionError, ConnectionError) as exc:
            self._running.pop(spec.container_id, None)
            raise HostUnreachable(
                spec.container_id, f"the Docker host is unreachable: {exc}"
            ) from exc
        except docker.errors.DockerException as exc:
            await self._discard(spec.container_id, running)
            raise ContainerStartFailed(spec.container_id, f"Docker refused: {exc}") from exc
        except BaseException:  # cancelled (the gateway is closing): leave nothing behind
            await asyncio.shield(self._discard(spec.container_id, running))
            raise
        if "port" not in report:
            await self._discard(spec.container_id, running)
            raise ContainerStartFailed(spec.container_id, str(report.get("error", "exited")))
        agent_port, web_port = await asyncio.to_thread(self._published_ports, running, report)
        return ContainerAddress(spec.container_id, self._publish_host, agent_port, web_port)

    async def _discard(self, container_id: str, running: _Running) -> None:
        """A container that did not start: removed, with its volume, and forgotten."""
        self._running.pop(container_id, None)
        if running.container is not None:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                await asyncio.to_thread(running.container.remove, force=True, v=True)

    def _create(self, spec: ContainerSpec, image: str) -> Any:
        # Each published port costs the start a little (a proxy, firewall rules): only these.
        ports: dict[str, tuple[str, None]] = {f"{AGENT_PORT}/tcp": (self._publish_host, None)}
        if spec.serves_web:
            ports[f"{spec.web_server_port or WEB_PORT}/tcp"] = (self._publish_host, None)
        container = self._client.containers.create(
            image,
            command=["python3", "-m", "wharf_runner"],
            environment=self._environment(spec),
            labels={
                OWNER_LABEL: self._owner,
                "wharf.container": spec.container_id,
                "wharf.app": spec.app_id,
                "wharf.function": spec.function_name,
                # What a later run of the gateway needs to take the container on again. (The
                # secret is seen only by those who can read Docker's state: root, in effect.)
                "wharf.function_id": spec.function_id,
                "wharf.pool": spec.pool_key,
                "wharf.token_id": spec.token_id,
                "wharf.agent_secret": spec.agent_secret,
                "wharf.web_port": str(spec.web_server_port or WEB_PORT) if spec.serves_web else "",
                "wharf.gpus": ",".join(spec.gpu_ids),
                "wharf.memory_mb": str(spec.memory_mb or DEFAULT_MEMORY_MB),
            },
            user=CONTAINER_USER,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            read_only=True,
            tmpfs={"/tmp": f"rw,nosuid,nodev,size={TMP_SIZE}"},  # noqa: S108 - its own tmpfs
            mounts=self._mounts(),
            mem_limit=f"{spec.memory_mb or DEFAULT_MEMORY_MB}m",
            memswap_limit=f"{spec.memory_mb or DEFAULT_MEMORY_MB}m",
            nano_cpus=int((spec.cpu or DEFAULT_CPUS) * 1e9),
            pids_limit=PIDS_LIMIT,
            ulimits=[
                docker.types.Ulimit(name="nofile", soft=OPEN_FILES_LIMIT, hard=OPEN_FILES_LIMIT)
            ],
            device_requests=[
                docker.types.DeviceRequest(device_ids=list(spec.gpu_ids), capabilities=[["gpu"]])
            ]
            if spec.gpu_ids
            else None,
            network=NETWORK,
            ports=ports,
            init=True,  # a real PID 1 that reaps what the user's code leaves behind
            detach=True,
        )
        try:
            container.put_archive(BUNDLE_DIR, _bundle_archive(spec.bundle_path))
        except BaseException:
            with contextlib.suppress(docker.errors.DockerException, requests.RequestException):
                container.remove(force=True, v=True)
            raise
        return container

    def _mounts(self) -> list[docker.types.Mount]:
        mounts = [docker.types.Mount(target=BUNDLE_DIR, source=None, type="volume")]
        if self._gateway_socket is not None:
            source = str(self._gateway_socket.parent)
            mounts.append(
                docker.types.Mount(GATEWAY_SOCKET_DIR, source, type="bind", read_only=True)
            )
        return mounts

    def _environment(self, spec: ContainerSpec) -> dict[str, str]:
        environment = dict(spec.environment)
        if self._gateway_socket is not None:
            # The gateway answers containers on its socket, in plain HTTP.
            socket_path = f"{GATEWAY_SOCKET_DIR}/{self._gateway_socket.name}"
            environment["WHARF_SERVER_URL"] = f"unix://{socket_path}"
            environment.pop("WHARF_CA_BUNDLE", None)
        return {
            **environment,
            "PYTHONUNBUFFERED": "1",
            "RUNNER_BUNDLE_PATH": f"{BUNDLE_DIR}/bundle.zip",
            "RUNNER_MODULE": spec.module,
            "RUNNER_APP_VARIABLE": spec.app_variable,
            "RUNNER_APP_ID": spec.app_id,
            "RUNNER_FUNCTION": spec.function_name,
            "RUNNER_HOST": "0.0.0.0",  # noqa: S104 - inside the container; published on loopback
            "RUNNER_PORT": str(AGENT_PORT),
            "RUNNER_WEB_PORT": str(WEB_PORT),
            "RUNNER_READY_STDOUT": "1",
            "RUNNER_MAX_INPUTS": str(spec.max_inputs),
            "RUNNER_AGENT_SECRET": spec.agent_secret,
            "RUNNER_MAX_BODY_BYTES": str(spec.max_output_bytes),
        }

    def _start(
        self, spec: ContainerSpec, running: _Running, loop: asyncio.AbstractEventLoop
    ) -> None:
        running.container.start()
        self._follow(spec.container_id, running, loop, from_start=True)

    def _follow(
        self,
        container_id: str,
        running: _Running,
        loop: asyncio.AbstractEventLoop,
        *,
        from_start: bool,
    ) -> None:
        """Read the container's output and wait for its exit, each on a thread of its own."""
        container = running.container
        stream = container.attach(
            stdout=True, stderr=True, stream=True, logs=from_start, demux=True
        )
        pump = threading.Thread(
            target=self._pump,
            args=(container_id, stream, running, loop),
            name=f"wharf-logs-{container_id}",
            daemon=True,
        )
        waiter = threading.Thread(
            target=self._wait,
            args=(container_id, running, pump, loop),
            name=f"wharf-exit-{container_id}",
            daemon=True,
        )
        running.threads = [pump, waiter]
        pump.start()
        waiter.start()

    def _pump(
        self,
        container_id: str,
        stream: Any,
        running: _Running,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        """Output lines to the events (in the loop); the readiness report to `running.ready`."""
        partial = {LogStream.STDOUT: b"", LogStream.STDERR: b""}

        def emit(kind: LogStream, line: bytes) -> None:
            text = line.decode(errors="replace")
            if kind is LogStream.STDOUT and text.startswith(READY_MARKER):
                report = orjson.loads(text[len(READY_MARKER) :])
                loop.call_soon_threadsafe(_resolve, running.ready, report)
            else:
                loop.call_soon_threadsafe(self._events.on_log, container_id, kind, text)

        try:
            for out, err in stream:
                for kind, chunk in ((LogStream.STDOUT, out), (LogStream.STDERR, err)):
                    if not chunk:
                        continue
                    lines, partial[kind] = _split_lines(partial[kind] + chunk)
                    for line in lines:
                        emit(kind, line)
        except (docker.errors.DockerException, OSError, ValueError):
            pass  # the daemon went away: the exit waiter reports the container gone
        finally:
            with contextlib.suppress(Exception):
                stream.close()
        for kind, rest in partial.items():
            if rest:
                emit(kind, rest)

    def _wait(
        self,
        container_id: str,
        running: _Running,
        pump: threading.Thread,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        container = running.container
        exit_code: int | None = None
        with contextlib.suppress(docker.errors.DockerException, OSError):
            exit_code = int(container.wait()["StatusCode"])
        pump.join(timeout=0.5)
        out_of_memory = False
        with contextlib.suppress(docker.errors.DockerException, OSError):
            container.reload()
            out_of_memory = bool(container.attrs["State"].get("OOMKilled"))
        reason = None
        if out_of_memory:
            reason = f"it ran out of memory: its limit is {running.memory_mb} MiB"
            loop.call_soon_threadsafe(self._events.on_log, container_id, LogStream.STDERR, reason)
        loop.call_soon_threadsafe(self._exited, container_id, exit_code, reason, running)
        with contextlib.suppress(docker.errors.DockerException, OSError):
            container.remove(force=True, v=True)

    def _exited(
        self, container_id: str, exit_code: int | None, reason: str | None, running: _Running
    ) -> None:
        _resolve(
            running.ready,
            {"error": f"the container exited with status {exit_code} before it was ready"},
        )
        if self._running.get(container_id) is running:
            del self._running[container_id]
        self._events.on_exit(container_id, exit_code, reason)

    def _published_ports(self, running: _Running, report: dict[str, Any]) -> tuple[int, int | None]:
        container = running.container
        container.reload()
        published = container.attrs["NetworkSettings"]["Ports"]

        def host_port(port: int) -> int:
            return int(published[f"{port}/tcp"][0]["HostPort"])

        web = report.get("web_port")
        return host_port(AGENT_PORT), None if web is None else host_port(int(web))

    async def stop(self, container_id: str, grace_s: float) -> None:
        running = self._running.get(container_id)
        if running is None or running.container is None:
            return
        with contextlib.suppress(docker.errors.DockerException):
            await asyncio.to_thread(running.container.stop, timeout=max(0, round(grace_s)))

    async def list_containers(self) -> list[str]:
        return list(self._running)

    async def adopt(self) -> list[AdoptedContainer]:
        await self._prepare()
        loop = asyncio.get_running_loop()
        owned = await asyncio.to_thread(
            self._client.containers.list,
            all=True,
            filters={"label": f"{OWNER_LABEL}={self._owner}"},
        )
        adopted = []
        for container in owned:
            try:
                candidate = await self._take_on(container, loop)
            except (KeyError, ValueError, docker.errors.DockerException) as exc:
                logger.warning("not taking on %s: %s", container.short_id, exc)
                candidate = None
            if candidate is None:
                with contextlib.suppress(docker.errors.DockerException):
                    await asyncio.to_thread(container.remove, force=True, v=True)
            else:
                adopted.append(candidate)
        return adopted

    async def _take_on(
        self, container: Any, loop: asyncio.AbstractEventLoop
    ) -> AdoptedContainer | None:
        """Follow a running container of an earlier run again, if its agent answers."""
        labels = container.labels
        container_id = labels.get("wharf.container", "")
        secret = labels.get("wharf.agent_secret", "")
        if container.status != "running" or not (container_id and secret):
            return None
        web_port = labels.get("wharf.web_port") or None
        running = _Running(
            container, loop.create_future(), memory_mb=int(labels["wharf.memory_mb"])
        )
        agent_port, web = await asyncio.to_thread(
            self._published_ports, running, {"web_port": web_port}
        )
        address = ContainerAddress(container_id, self._publish_host, agent_port, web)
        agent = AgentConnection(address.host, address.port, container_id, 1 << 16, secret)
        try:
            if not await agent.healthy():
                return None
        finally:
            agent.close()
        self._running[container_id] = running
        await asyncio.to_thread(self._follow, container_id, running, loop, from_start=False)
        gpus = tuple(gpu for gpu in labels.get("wharf.gpus", "").split(",") if gpu)
        return AdoptedContainer(
            container_id,
            labels["wharf.function_id"],
            labels["wharf.token_id"],
            secret,
            address,
            gpus,
            pool_key=labels.get("wharf.pool", ""),
        )

    async def capacity(self) -> tuple[float, int]:
        """The host's CPU cores and memory (MiB).

        Raises:
            HostUnreachable: the Docker host does not answer.
        """
        try:
            info = await asyncio.to_thread(self._client.info)
        except (requests.exceptions.ConnectionError, docker.errors.DockerException) as exc:
            raise HostUnreachable("-", f"the Docker host is unreachable: {exc}") from exc
        return float(info["NCPU"]), int(info["MemTotal"]) // (1024 * 1024)

    async def close(self) -> None:
        threads = [thread for running in self._running.values() for thread in running.threads]
        await asyncio.gather(*(self.stop(cid, grace_s=5) for cid in list(self._running)))
        for thread in threads:
            await asyncio.to_thread(thread.join, 5)
        self._builds.shutdown(wait=False, cancel_futures=True)
        self._client.close()


def wall_off(bridge: str) -> None:
    """Firewall rules for the containers' bridge on this machine: no new connections from it to
    the host itself (the gateway's ports among them), and none to the cloud metadata address.
    Needs root and Docker's iptables chains; without them, a warning says what to add by hand."""
    rules = [
        ["DOCKER-USER", "-i", bridge, "-d", "169.254.169.254", "-j", "DROP"],
        ["INPUT", "-i", bridge, "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"],
    ]
    iptables = shutil.which("iptables")
    for chain, *rule in rules:
        try:
            if iptables is None:
                raise OSError("iptables is not installed")
            check = [iptables, "-C", chain, *rule]
            if subprocess.run(check, capture_output=True, check=False).returncode != 0:  # noqa: S603
                subprocess.run([iptables, "-I", chain, *rule], capture_output=True, check=True)  # noqa: S603
        except (OSError, subprocess.CalledProcessError) as exc:
            logger.warning(
                "could not add the firewall rule `iptables -I %s %s` (%s): add it by hand",
                chain,
                " ".join(rule),
                exc,
            )
            return


def _resolve(future: asyncio.Future[dict[str, Any]], report: dict[str, Any]) -> None:
    if not future.done():
        future.set_result(report)


def _build_context(recipe: ImageRecipe) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in [("Dockerfile", recipe.dockerfile.encode()), *recipe.files.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = recipe.modes.get(name, 0o644)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _split_lines(data: bytes) -> tuple[list[bytes], bytes]:
    """Whole lines, and the rest; a rest over MAX_LOG_LINE_BYTES (no newline in sight) is cut
    into lines of that length, so a container cannot grow the gateway's memory without bound."""
    *lines, rest = data.split(b"\n")
    while len(rest) > MAX_LOG_LINE_BYTES:
        lines.append(rest[:MAX_LOG_LINE_BYTES])
        rest = rest[MAX_LOG_LINE_BYTES:]
    return lines, rest


def _bundle_archive(bundle_path: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo("bundle.zip")
        data = bundle_path.read_bytes()
        info.size = len(data)
        info.mode = 0o644
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
