"""The seam between the scheduler and whatever runs containers (local processes, Docker)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class LogStream(StrEnum):
    """Which output of a container a log line came from."""

    #: The container's standard output (the user's `print`).
    STDOUT = "stdout"
    #: The container's standard error (warnings, tracebacks, the agent's own reports).
    STDERR = "stderr"


@dataclass(frozen=True, slots=True)
class ContainerSpec:
    """Everything a backend needs to start one container for one function."""

    container_id: str
    app_id: str
    function_name: str
    #: The zipped app sources; the agent unpacks and imports them.
    bundle_path: Path
    module: str
    app_variable: str
    #: The function version and the container's own token, for a later run to take it on again.
    function_id: str = ""
    token_id: str = ""
    #: Extra environment for the user's code (the client credentials of the container).
    environment: Mapping[str, str] = field(default_factory=dict)
    startup_timeout_s: float = 60.0
    #: Inputs the container runs at once.
    max_inputs: int = 1
    #: Shared with the agent; every input must carry it (other local processes cannot).
    agent_secret: str = ""
    #: Largest output the gateway reads; a bigger result is the call's failure.
    max_output_bytes: int = 64 * 1024 * 1024
    #: Whether the container serves a web function (its web port is then reachable).
    serves_web: bool = False
    #: The port a `@web_server` function's own server listens on (None: the agent serves).
    web_server_port: int | None = None
    #: CPU cores and memory (MiB) for the container; None: the backend's defaults.
    cpu: float | None = None
    memory_mb: int | None = None
    #: The image built for the function (`ImageRecipe.tag`); None: the runner base image.
    image: str | None = None
    #: The host's GPUs the container gets, by device id; it sees only these.
    gpu_ids: tuple[str, ...] = ()
    #: The host those GPUs are on (one the backend was given; "" for its first).
    gpu_host: str = ""
    #: The pool it belongs to: the function id, or that plus a class parameter set's suffix.
    pool_key: str = ""


@dataclass(frozen=True, slots=True)
class ImageRecipe:
    """An image to build: its tag (a hash of everything below), a Dockerfile, and the files of
    its build context by path, with their permission bits where not 0o644."""

    tag: str
    dockerfile: str
    files: Mapping[str, bytes] = field(default_factory=dict)
    modes: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AdoptedContainer:
    """A container an earlier run of the gateway left running, whose agent still answers."""

    container_id: str
    function_id: str
    token_id: str
    agent_secret: str
    address: ContainerAddress
    gpu_ids: tuple[str, ...] = ()
    #: The Docker host it runs on, as the backend was given it.
    host: str = ""
    #: Its pool (`ContainerSpec.pool_key`).
    pool_key: str = ""


@dataclass(frozen=True, slots=True)
class ContainerAddress:
    """Where a started container's agent listens."""

    container_id: str
    host: str
    port: int
    #: Where the container's web app listens, for web functions.
    web_port: int | None = None


class ContainerEvents(Protocol):
    """What a backend reports about the containers it runs."""

    def on_log(self, container_id: str, stream: LogStream, line: str) -> None: ...

    def on_exit(self, container_id: str, exit_code: int | None, reason: str | None = None) -> None:
        """The container is gone; `reason` says why where the backend knows (out of memory)."""


class ContainerBackend(Protocol):
    """Starts and stops containers; two implementations: local processes and Docker."""

    async def start(self, spec: ContainerSpec) -> ContainerAddress:
        """Start a container and return once its agent is ready.

        Raises:
            ContainerStartFailed: the container exited or did not become ready in time.
        """
        ...

    async def stop(self, container_id: str, grace_s: float) -> None:
        """Stop a container: ask it to exit, then kill it after `grace_s`."""
        ...

    async def list_containers(self) -> list[str]:
        """The ids of the containers this backend runs now."""
        ...

    @property
    def builds_images(self) -> bool:
        """Whether functions' images are built and used (the local backend ignores them)."""
        ...

    async def has_image(self, tag: str) -> bool:
        """Whether the image is built already."""
        ...

    async def build_image(self, recipe: ImageRecipe, on_log: Callable[[str], None]) -> None:
        """Build an image, passing its build log on line by line.

        Raises:
            ImageBuildFailed: with the reason (the log has the details).
        """
        ...

    async def adopt(self) -> list[AdoptedContainer]:
        """Containers an earlier run of the gateway left whose agents still answer, followed
        again (stop the unwanted ones); the others are removed. Call once, before any start."""
        ...

    async def close(self) -> None:
        """Stop every container and release the backend's resources."""
        ...
