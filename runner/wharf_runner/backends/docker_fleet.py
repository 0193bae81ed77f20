"""Several Docker hosts as one backend: each container goes to the host with the most room for
what it asks (CPU and memory against the host's own), a host that does not answer is passed over
for a while, and a container on a host that goes away is reported gone, so its inputs are retried
on another.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from wharf_runner.backends.base import (
    AdoptedContainer,
    ContainerAddress,
    ContainerEvents,
    ContainerSpec,
    ImageRecipe,
    LogStream,
)
from wharf_runner.backends.docker import DockerBackend
from wharf_runner.backends.docker_options import DEFAULT_CPUS, DEFAULT_MEMORY_MB
from wharf_runner.errors import ContainerStartFailed, EngineError, HostUnreachable

logger = logging.getLogger(__name__)

#: How long a host that did not answer is passed over.
UNREACHABLE_PAUSE_S = 30.0


@dataclass(slots=True)
class _Host:
    url: str
    backend: DockerBackend | None = None
    cpus: float = 0.0
    memory_mb: int = 0
    #: What its containers asked for, by container id.
    allotted: dict[str, tuple[float, int]] = field(default_factory=dict)
    paused_until: float = 0.0
    #: Held while the host's backend is being made (one backend per host).
    connecting: asyncio.Lock = field(default_factory=asyncio.Lock)

    def load(self, cpu: float, memory_mb: int) -> float:
        """How full the host would be with one more such container (1 is full); a host not
        measured yet counts its containers instead."""
        if not self.cpus:
            return float(len(self.allotted))
        used_cpu = sum(c for c, _ in self.allotted.values()) + cpu
        used_memory = sum(m for _, m in self.allotted.values()) + memory_mb
        return max(used_cpu / self.cpus, used_memory / max(self.memory_mb, 1))


def publish_host_of(url: str) -> str:
    """Where a host publishes containers' ports: loopback for local sockets, else its address."""
    parts = urlsplit(url)
    if parts.scheme in ("", "unix", "npipe") or parts.hostname in (None, "localhost"):
        return "127.0.0.1"
    return socket.gethostbyname(parts.hostname)


class _Forward:
    """Events from one host's backend, noted by the fleet and passed on."""

    def __init__(self, fleet: DockerFleet, host: _Host) -> None:
        self._fleet, self._host = fleet, host

    def on_log(self, container_id: str, stream: LogStream, line: str) -> None:
        self._fleet.events.on_log(container_id, stream, line)

    def on_exit(self, container_id: str, exit_code: int | None, reason: str | None = None) -> None:
        self._host.allotted.pop(container_id, None)
        self._fleet.placed.pop(container_id, None)
        self._fleet.events.on_exit(container_id, exit_code, reason)


class DockerFleet:
    """Containers spread over several Docker hosts (one host works the same way)."""

    def __init__(
        self,
        events: ContainerEvents,
        hosts: list[str],
        *,
        make_backend: Callable[[ContainerEvents, str], DockerBackend],
    ) -> None:
        self.events = events
        # No hosts: this machine's Docker, as DOCKER_HOST (or the default socket) names it.
        self._hosts = [_Host(url) for url in hosts or [""]]
        self._make_backend = make_backend
        #: The host of each container.
        self.placed: dict[str, _Host] = {}

    async def _backend(self, host: _Host) -> DockerBackend:
        """The host's backend, connected (and measured) the first time it is needed.

        Raises:
            HostUnreachable: the host does not answer.
        """
        async with host.connecting:
            if host.backend is None:
                try:
                    backend = await asyncio.to_thread(
                        self._make_backend, _Forward(self, host), host.url
                    )
                except (EngineError, OSError) as exc:  # OSError: the host's name is unknown
                    raise HostUnreachable("-", f"{host.url} does not answer: {exc}") from exc
                try:
                    host.cpus, host.memory_mb = await backend.capacity()
                except HostUnreachable:
                    await backend.close()
                    raise
                host.backend = backend
            return host.backend

    async def start(self, spec: ContainerSpec) -> ContainerAddress:
        cpu, memory_mb = spec.cpu or DEFAULT_CPUS, spec.memory_mb or DEFAULT_MEMORY_MB
        now = time.monotonic()
        # A container with GPUs goes where they are ("" is the first host).
        hosts = self._hosts
        if spec.gpu_ids:
            hosts = [host for host in self._hosts if host.url == spec.gpu_host] or self._hosts[:1]
        failure: ContainerStartFailed | None = None
        tried: set[str] = set()
        while True:
            # Chosen and reserved before any wait, so starts at the same time spread out too.
            candidates = [
                host for host in hosts if host.paused_until <= now and host.url not in tried
            ]
            if not candidates:
                break
            host = min(candidates, key=lambda host: host.load(cpu, memory_mb))
            tried.add(host.url)
            host.allotted[spec.container_id] = (cpu, memory_mb)
            self.placed[spec.container_id] = host
            try:
                backend = await self._backend(host)
                if spec.image and not await backend.has_image(spec.image):
                    # It was away when the image was built: another host runs this one.
                    failure = ContainerStartFailed(
                        spec.container_id, f"the image {spec.image} is on none of the hosts"
                    )
                    self._forget(spec.container_id)
                    continue
                return await backend.start(spec)
            except ContainerStartFailed as exc:
                self._forget(spec.container_id)
                # A container killed as its host goes down looks like any failed start: the
                # host's own silence tells them apart.
                if not isinstance(exc, HostUnreachable) and await self._answers(host):
                    raise
                logger.warning("passing over %s for %.0f s: %s", host.url, UNREACHABLE_PAUSE_S, exc)
                host.paused_until = time.monotonic() + UNREACHABLE_PAUSE_S
                failure = exc
            except BaseException:
                self._forget(spec.container_id)
                raise
        raise failure or HostUnreachable(spec.container_id, "every Docker host is paused")

    async def _answers(self, host: _Host) -> bool:
        try:
            if host.backend is not None:
                await host.backend.capacity()
        except HostUnreachable:
            return False
        return True

    def _forget(self, container_id: str) -> None:
        host = self.placed.pop(container_id, None)
        if host is not None:
            host.allotted.pop(container_id, None)

    async def adopt(self) -> list[AdoptedContainer]:
        adopted = []
        for host in self._hosts:
            try:
                backend = await self._backend(host)
            except HostUnreachable as exc:
                logger.warning("%s", exc)
                continue
            first = host is self._hosts[0]
            for container in await backend.adopt():
                host.allotted[container.container_id] = (DEFAULT_CPUS, DEFAULT_MEMORY_MB)
                self.placed[container.container_id] = host
                adopted.append(dataclasses.replace(container, host="" if first else host.url))
        return adopted

    async def stop(self, container_id: str, grace_s: float) -> None:
        host = self.placed.get(container_id)
        if host is not None and host.backend is not None:
            await host.backend.stop(container_id, grace_s)

    async def list_containers(self) -> list[str]:
        return list(self.placed)

    def host_of(self, container_id: str) -> str | None:
        host = self.placed.get(container_id)
        return None if host is None else host.url

    @property
    def builds_images(self) -> bool:
        return True

    async def _reachable(self) -> list[DockerBackend]:
        backends = []
        for host in self._hosts:
            try:
                backends.append(await self._backend(host))
            except HostUnreachable as exc:
                logger.warning("%s", exc)
        return backends

    async def has_image(self, tag: str) -> bool:
        backends = await self._reachable()
        return bool(backends) and all([await backend.has_image(tag) for backend in backends])

    async def build_image(self, recipe: ImageRecipe, on_log: Callable[[str], None]) -> None:
        """Build on every host that answers (each needs the image to run the function)."""
        for backend in await self._reachable():
            if not await backend.has_image(recipe.tag):
                await backend.build_image(recipe, on_log)

    async def close(self) -> None:
        await asyncio.gather(
            *(host.backend.close() for host in self._hosts if host.backend is not None)
        )


def docker_fleet(
    events: ContainerEvents,
    hosts: list[str],
    owner: str,
    build_args: Mapping[str, str],
    gateway_socket: Path | None = None,
) -> DockerFleet:
    """The docker backend over `hosts` (none: this machine's Docker). Containers on this
    machine get the gateway's Unix socket to call it back."""

    def make(host_events: ContainerEvents, url: str) -> DockerBackend:
        publish_host = publish_host_of(url)
        return DockerBackend(
            host_events,
            docker_host=url or None,
            owner=owner,
            build_args=build_args,
            publish_host=publish_host,
            gateway_socket=gateway_socket if publish_host == "127.0.0.1" else None,
        )

    return DockerFleet(events, hosts, make_backend=make)
