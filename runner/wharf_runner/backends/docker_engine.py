"""The one module that calls the Docker SDK: a client of one Docker host, and handles of its
containers. Their calls block (callers run them in threads). Docker's and `requests`'
exceptions never leave here: each becomes an `EngineError` (`EngineUnreachable` where the host
did not answer, `ImageNotFound` where an image is missing), chained to the original.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import docker
import docker.errors
import docker.types
import requests

from wharf_runner.errors import EngineError, EngineUnreachable, ImageBuildFailed, ImageNotFound


@dataclass(frozen=True, slots=True)
class BindMount:
    """A folder of the host, seen inside a container."""

    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """Everything a container is created with, in Docker's terms but in plain values."""

    image: str
    command: tuple[str, ...]
    environment: Mapping[str, str]
    labels: Mapping[str, str]
    user: str
    network: str
    memory_mb: int
    cpus: float
    pids_limit: int
    open_files_limit: int
    #: Container TCP port -> the host address it is published on (the host picks the port).
    ports: Mapping[int, str]
    cap_drop: tuple[str, ...] = ()
    security_opt: tuple[str, ...] = ()
    read_only: bool = False
    #: Mount point -> tmpfs options.
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    #: Mount points of anonymous volumes of the container's own.
    volumes: tuple[str, ...] = ()
    binds: tuple[BindMount, ...] = ()
    #: The host's GPUs the container gets, by device id.
    gpu_ids: tuple[str, ...] = ()
    #: Whether a real PID 1 reaps what the container's processes leave behind.
    init: bool = False


@dataclass(frozen=True, slots=True)
class BuildLimits:
    """What the steps of an image build (user code) may use."""

    network: str
    memory_bytes: int
    cpu_shares: int
    timeout_s: int


@contextlib.contextmanager
def translated(operation: str) -> Iterator[None]:
    """Turn the Docker SDK's exceptions (and the sockets' under it) into `EngineError`s."""
    try:
        yield
    except (requests.exceptions.ConnectionError, ConnectionError) as exc:
        raise EngineUnreachable(operation, str(exc)) from exc
    except (docker.errors.DockerException, OSError) as exc:
        # `requests`' exceptions are OSErrors too.
        raise EngineError(operation, str(exc)) from exc


class ContainerOutput:
    """A container's output as (stdout, stderr) chunks, until it ends; close it when done."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[tuple[bytes | None, bytes | None]]:
        with translated("read a container's output"):
            try:
                yield from self._stream
            except ValueError as exc:  # its socket was closed under the reader
                raise EngineError("read a container's output", str(exc)) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):  # the SDK's sockets close in several ways
            self._stream.close()


class EngineContainer:
    """One container of the host. Every method raises `EngineError` when Docker refuses."""

    def __init__(self, container: Any) -> None:
        self._container = container

    @property
    def short_id(self) -> str:
        return str(self._container.short_id)

    @property
    def labels(self) -> dict[str, str]:
        return dict(self._container.labels)

    @property
    def status(self) -> str:
        return str(self._container.status)

    def put_archive(self, path: str, data: bytes) -> None:
        with translated("copy files into a container"):
            self._container.put_archive(path, data)

    def start(self) -> None:
        with translated("start a container"):
            self._container.start()

    def output(self, *, from_start: bool) -> ContainerOutput:
        """The container's output from now on; with `from_start`, what it wrote before too."""
        with translated("attach to a container"):
            stream = self._container.attach(
                stdout=True, stderr=True, stream=True, logs=from_start, demux=True
            )
        return ContainerOutput(stream)

    def wait(self) -> int:
        """Until the container exits; its exit status."""
        with translated("wait for a container"):
            return int(self._container.wait()["StatusCode"])

    def was_out_of_memory(self) -> bool:
        """Whether the kernel killed the container for memory."""
        with translated("inspect a container"):
            self._container.reload()
            return bool(self._container.attrs["State"].get("OOMKilled"))

    def published_ports(self) -> dict[int, int]:
        """The host port of each published TCP port of the container."""
        with translated("inspect a container"):
            self._container.reload()
            published = self._container.attrs["NetworkSettings"]["Ports"] or {}
        return {
            int(port.partition("/")[0]): int(bindings[0]["HostPort"])
            for port, bindings in published.items()
            if port.endswith("/tcp") and bindings
        }

    def stop(self, grace_s: float) -> None:
        with translated("stop a container"):
            self._container.stop(timeout=max(0, round(grace_s)))

    def remove(self) -> None:
        """Remove the container, running or not, with its volumes."""
        with translated("remove a container"):
            self._container.remove(force=True, v=True)


class DockerEngine:
    """A client of one Docker host (None: the one `DOCKER_HOST` or the default socket names).

    Raises:
        EngineUnreachable: the host does not answer (the SDK connects at once).
    """

    def __init__(self, docker_host: str | None = None) -> None:
        try:
            self._client = (
                docker.DockerClient(base_url=docker_host) if docker_host else docker.from_env()
            )
        except Exception as exc:  # the SDK fails in several ways: bad URLs, SSH, sockets
            raise EngineUnreachable("connect", str(exc)) from exc

    def capacity(self) -> tuple[float, int]:
        """The host's CPU cores and memory (MiB)."""
        with translated("read the host's capacity"):
            info = self._client.info()
        return float(info["NCPU"]), int(info["MemTotal"]) // (1024 * 1024)

    def image_id(self, tag: str) -> str:
        """The id of the image `tag`.

        Raises:
            ImageNotFound: it is not on the host.
        """
        with translated(f"find the image {tag}"):
            try:
                return str(self._client.images.get(tag).id)
            except docker.errors.ImageNotFound as exc:
                raise ImageNotFound(tag) from exc

    def has_image(self, tag: str) -> bool:
        try:
            self.image_id(tag)
        except ImageNotFound:
            return False
        return True

    def build_image(self, context: bytes, tag: str, labels: Mapping[str, str]) -> None:
        """Build an image of Wharf's own from a tar build context (no limits, no log)."""
        with translated(f"build the image {tag}"):
            self._client.images.build(
                fileobj=io.BytesIO(context),
                custom_context=True,
                tag=tag,
                rm=True,
                labels=dict(labels),
            )

    def build_user_image(
        self,
        context: bytes,
        tag: str,
        *,
        build_args: Mapping[str, str],
        labels: Mapping[str, str],
        limits: BuildLimits,
        on_log: Callable[[str], None],
    ) -> None:
        """Build an image whose steps are user code, passing its log on as it comes.

        Raises:
            ImageBuildFailed: with Docker's reason (also the log's last text).
        """
        try:
            for chunk in self._client.api.build(
                fileobj=io.BytesIO(context),
                custom_context=True,
                tag=tag,
                rm=True,
                forcerm=True,
                decode=True,
                buildargs=dict(build_args),
                labels=dict(labels),
                network_mode=limits.network,
                container_limits={
                    "memory": limits.memory_bytes,
                    "memswap": limits.memory_bytes,
                    "cpushares": limits.cpu_shares,
                },
                timeout=limits.timeout_s,
            ):
                if "stream" in chunk:
                    on_log(str(chunk["stream"]))
                if "error" in chunk:
                    on_log(str(chunk["error"]))
                    raise ImageBuildFailed(str(chunk["error"]).strip())
        except docker.errors.DockerException as exc:
            on_log(str(exc))
            raise ImageBuildFailed(str(exc)) from exc

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> str:
        """The id of the bridge network `name`, created first where missing; its containers
        cannot reach each other."""
        with translated(f"create the network {name}"):
            networks = self._client.networks.list(names=[name])
            network = (
                networks[0]
                if networks
                else self._client.networks.create(
                    name,
                    driver="bridge",
                    options={"com.docker.network.bridge.enable_icc": "false"},
                    labels=dict(labels),
                )
            )
            return str(network.id)

    def create_container(self, request: CreateRequest) -> EngineContainer:
        with translated("create a container"):
            container = self._client.containers.create(
                request.image, detach=True, **_create_options(request)
            )
        return EngineContainer(container)

    def containers(self, label: str) -> list[EngineContainer]:
        """The host's containers, running or not, labelled `label` (`name=value`)."""
        with translated("list containers"):
            found = self._client.containers.list(all=True, filters={"label": label})
        return [EngineContainer(container) for container in found]

    def close(self) -> None:
        self._client.close()


def _create_options(request: CreateRequest) -> dict[str, Any]:
    mounts = [docker.types.Mount(target, None, type="volume") for target in request.volumes]
    mounts += [
        docker.types.Mount(bind.target, bind.source, type="bind", read_only=bind.read_only)
        for bind in request.binds
    ]
    limit = request.open_files_limit
    return {
        "command": list(request.command),
        "environment": dict(request.environment),
        "labels": dict(request.labels),
        "user": request.user,
        "cap_drop": list(request.cap_drop),
        "security_opt": list(request.security_opt),
        "read_only": request.read_only,
        "tmpfs": dict(request.tmpfs),
        "mounts": mounts,
        "mem_limit": f"{request.memory_mb}m",
        "memswap_limit": f"{request.memory_mb}m",
        "nano_cpus": int(request.cpus * 1e9),
        "pids_limit": request.pids_limit,
        "ulimits": [docker.types.Ulimit(name="nofile", soft=limit, hard=limit)],
        "device_requests": [
            docker.types.DeviceRequest(device_ids=list(request.gpu_ids), capabilities=[["gpu"]])
        ]
        if request.gpu_ids
        else None,
        "network": request.network,
        "ports": {f"{port}/tcp": (host, None) for port, host in request.ports.items()},
        "init": request.init,
    }
