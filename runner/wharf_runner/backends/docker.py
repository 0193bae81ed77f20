"""The `docker` backend: each container is a Docker container, isolated from the host and from
the others (`docker_options` says how), on a walled-off network (`docker_network`).

Docker's calls block (`docker_engine` makes them), so they run in threads; each container has two
more threads, one reading its output (`docker_logs`) and one waiting for its exit.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wharf_runner.backends.base import (
    AdoptedContainer,
    ContainerAddress,
    ContainerEvents,
    ContainerSpec,
    ImageRecipe,
    LogStream,
)
from wharf_runner.backends.docker_engine import DockerEngine, EngineContainer
from wharf_runner.backends.docker_logs import pump_output, resolve
from wharf_runner.backends.docker_network import prepare_network
from wharf_runner.backends.docker_options import (
    AGENT_PORT,
    BUILD_ARGS,
    BUILD_LIMITS,
    BUNDLE_DIR,
    DEFAULT_MEMORY_MB,
    OWNER_LABEL,
    build_context,
    bundle_archive,
    create_request,
)
from wharf_runner.backends.runtime_image import DEFAULT_BASE_IMAGE, ensure_runtime_image
from wharf_runner.channel.connection import AgentConnection
from wharf_runner.errors import (
    AgentUnreachable,
    ContainerStartFailed,
    EngineError,
    EngineUnreachable,
    HostUnreachable,
    ImageNotFound,
)

logger = logging.getLogger(__name__)

BUILDS_AT_ONCE = 2


@dataclass(slots=True)
class _Running:
    container: EngineContainer | None
    ready: asyncio.Future[dict[str, Any]]
    threads: list[threading.Thread] = field(default_factory=list)
    memory_mb: int = DEFAULT_MEMORY_MB
    #: Held open while the container is ours: its agent stops once it closes (we are gone).
    lifeline: AgentConnection | None = None


class DockerBackend:
    """Runs containers on one Docker host.

    Raises:
        EngineUnreachable: the host does not answer (the client connects at once).
    """

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
        self._engine = DockerEngine(docker_host)
        self._owner = owner
        self._base_image = base_image
        self._build_args = {
            name: value for name, value in (build_args or {}).items() if name in BUILD_ARGS
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
                await asyncio.to_thread(
                    prepare_network, self._engine, self._owner, self._publish_host
                )
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
            return ensure_runtime_image(self._engine, base)
        except ImageNotFound as exc:
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
        if await asyncio.to_thread(self._engine.has_image, tag):
            self._images.add(tag)
            return True
        return False

    async def build_image(self, recipe: ImageRecipe, on_log: Callable[[str], None]) -> None:
        loop = asyncio.get_running_loop()

        def log(text: str) -> None:
            for line in text.rstrip("\n").split("\n"):
                loop.call_soon_threadsafe(on_log, line)

        def build() -> None:
            self._engine.build_user_image(
                build_context(recipe),
                recipe.tag,
                build_args=self._build_args,
                labels={OWNER_LABEL: self._owner},
                limits=BUILD_LIMITS,
                on_log=log,
            )

        await self._prepare()  # the network builds run on
        # Builds have threads of their own: slow ones must not hold up starting containers.
        await loop.run_in_executor(self._builds, build)
        self._images.add(recipe.tag)

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
            container = running.container = await asyncio.to_thread(self._create, spec, image)
            await asyncio.to_thread(self._start, spec.container_id, container, running, loop)
            async with asyncio.timeout(spec.startup_timeout_s):
                report = await running.ready
        except TimeoutError as exc:
            await self._discard(spec.container_id, running)
            raise ContainerStartFailed(
                spec.container_id, f"not ready within {spec.startup_timeout_s} s"
            ) from exc
        except EngineUnreachable as exc:
            self._running.pop(spec.container_id, None)
            raise HostUnreachable(
                spec.container_id, f"the Docker host is unreachable: {exc.reason}"
            ) from exc
        except EngineError as exc:
            await self._discard(spec.container_id, running)
            raise ContainerStartFailed(spec.container_id, f"Docker refused: {exc.reason}") from exc
        except BaseException:  # cancelled (the gateway is closing): leave nothing behind
            await asyncio.shield(self._discard(spec.container_id, running))
            raise
        if "port" not in report:
            await self._discard(spec.container_id, running)
            raise ContainerStartFailed(spec.container_id, str(report.get("error", "exited")))
        agent_port, web_port = await asyncio.to_thread(_published_ports, container, report)
        address = ContainerAddress(spec.container_id, self._publish_host, agent_port, web_port)
        await self._hold_lifeline(running, address, spec.agent_secret)
        return address

    async def _hold_lifeline(
        self, running: _Running, address: ContainerAddress, secret: str
    ) -> None:
        """Open the container's lifeline (a container whose agent is unreachable soon reports
        its exit, or fails its first input, as any other)."""
        lifeline = AgentConnection(
            address.host, address.port, address.container_id, 1 << 16, secret
        )
        try:
            await lifeline.hold_lifeline()
        except AgentUnreachable as exc:
            logger.warning("no lifeline to %s: %s", address.container_id, exc)
            return
        running.lifeline = lifeline

    async def _discard(self, container_id: str, running: _Running) -> None:
        """A container that did not start: removed, with its volume, and forgotten."""
        self._running.pop(container_id, None)
        if running.container is not None:
            with contextlib.suppress(EngineError):
                await asyncio.to_thread(running.container.remove)

    def _create(self, spec: ContainerSpec, image: str) -> EngineContainer:
        request = create_request(
            spec,
            image,
            owner=self._owner,
            publish_host=self._publish_host,
            gateway_socket=self._gateway_socket,
        )
        container = self._engine.create_container(request)
        try:
            container.put_archive(BUNDLE_DIR, bundle_archive(spec.bundle_path))
        except BaseException:
            with contextlib.suppress(EngineError):
                container.remove()
            raise
        return container

    def _start(
        self,
        container_id: str,
        container: EngineContainer,
        running: _Running,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        container.start()
        self._follow(container_id, container, running, loop, from_start=True)

    def _follow(
        self,
        container_id: str,
        container: EngineContainer,
        running: _Running,
        loop: asyncio.AbstractEventLoop,
        *,
        from_start: bool,
    ) -> None:
        """Read the container's output and wait for its exit, each on a thread of its own."""
        output = container.output(from_start=from_start)
        pump = threading.Thread(
            target=pump_output,
            args=(container_id, output, self._events, running.ready, loop),
            name=f"wharf-logs-{container_id}",
            daemon=True,
        )
        waiter = threading.Thread(
            target=self._wait,
            args=(container_id, container, running, pump, loop),
            name=f"wharf-exit-{container_id}",
            daemon=True,
        )
        running.threads = [pump, waiter]
        pump.start()
        waiter.start()

    def _wait(
        self,
        container_id: str,
        container: EngineContainer,
        running: _Running,
        pump: threading.Thread,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        exit_code: int | None = None
        with contextlib.suppress(EngineError):
            exit_code = container.wait()
        pump.join(timeout=0.5)
        out_of_memory = False
        with contextlib.suppress(EngineError):
            out_of_memory = container.was_out_of_memory()
        reason = None
        if out_of_memory:
            reason = f"it ran out of memory: its limit is {running.memory_mb} MiB"
            loop.call_soon_threadsafe(self._events.on_log, container_id, LogStream.STDERR, reason)
        loop.call_soon_threadsafe(self._exited, container_id, exit_code, reason, running)
        with contextlib.suppress(EngineError):
            container.remove()

    def _exited(
        self, container_id: str, exit_code: int | None, reason: str | None, running: _Running
    ) -> None:
        resolve(
            running.ready,
            {"error": f"the container exited with status {exit_code} before it was ready"},
        )
        if self._running.get(container_id) is running:
            del self._running[container_id]
        if running.lifeline is not None:
            running.lifeline.close()
        self._events.on_exit(container_id, exit_code, reason)

    async def stop(self, container_id: str, grace_s: float) -> None:
        running = self._running.get(container_id)
        if running is None or running.container is None:
            return
        with contextlib.suppress(EngineError):
            await asyncio.to_thread(running.container.stop, grace_s)

    async def list_containers(self) -> list[str]:
        return list(self._running)

    async def adopt(self) -> list[AdoptedContainer]:
        await self._prepare()
        loop = asyncio.get_running_loop()
        owned = await asyncio.to_thread(self._engine.containers, f"{OWNER_LABEL}={self._owner}")
        adopted = []
        for container in owned:
            try:
                candidate = await self._take_on(container, loop)
            except (KeyError, ValueError, EngineError) as exc:
                logger.warning("not taking on %s: %s", container.short_id, exc)
                candidate = None
            if candidate is None:
                with contextlib.suppress(EngineError):
                    await asyncio.to_thread(container.remove)
            else:
                adopted.append(candidate)
        return adopted

    async def _take_on(
        self, container: EngineContainer, loop: asyncio.AbstractEventLoop
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
            _published_ports, container, {"web_port": web_port}
        )
        address = ContainerAddress(container_id, self._publish_host, agent_port, web)
        agent = AgentConnection(address.host, address.port, container_id, 1 << 16, secret)
        try:
            if not await agent.healthy():
                return None
        finally:
            agent.close()
        self._running[container_id] = running
        await self._hold_lifeline(running, address, secret)
        await asyncio.to_thread(
            self._follow, container_id, container, running, loop, from_start=False
        )
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
            return await asyncio.to_thread(self._engine.capacity)
        except EngineError as exc:
            raise HostUnreachable("-", f"the Docker host is unreachable: {exc.reason}") from exc

    async def close(self) -> None:
        threads = [thread for running in self._running.values() for thread in running.threads]
        await asyncio.gather(*(self.stop(cid, grace_s=5) for cid in list(self._running)))
        for thread in threads:
            await asyncio.to_thread(thread.join, 5)
        self._builds.shutdown(wait=False, cancel_futures=True)
        self._engine.close()


def _published_ports(container: EngineContainer, report: dict[str, Any]) -> tuple[int, int | None]:
    """The host ports of the agent and of the web app the readiness report names."""
    published = container.published_ports()
    web = report.get("web_port")
    return published[AGENT_PORT], None if web is None else published[int(web)]
