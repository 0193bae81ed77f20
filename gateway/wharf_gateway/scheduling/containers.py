"""The containers of pools: starting them (credentials, secrets, GPUs), stopping them, taking on
those an earlier run left, and what the backend reports of them (log lines, exits).

The scheduler decides when a pool gains or loses a container; this module does it, and tells
the scheduler through `PoolEvents` when capacity comes or goes.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from wharf_runner import (
    PARAMETERS_ENV,
    PARAMETERS_FORMAT_ENV,
    AdoptedContainer,
    ContainerBackend,
    ContainerEvents,
    ContainerSpec,
    LogStream,
    RunnerError,
)

from wharf_gateway.errors import GatewayError
from wharf_gateway.ids import new_id
from wharf_gateway.models import FunctionRecord
from wharf_gateway.scheduling.gpus import Gpu, GpuAllocator
from wharf_gateway.scheduling.pools import Container, Pool, resources

logger = logging.getLogger(__name__)

#: Seconds a stopping container gets to finish before it is killed.
STOP_GRACE_S = 5.0

#: Mints the credentials a container's user code calls the gateway with: `(environment, token_id)`.
CredentialsFactory = Callable[[str], Awaitable[tuple[dict[str, str], str]]]
LogSink = Callable[[FunctionRecord, str, LogStream, str], None]
#: The variables of a function's secrets, for a new container of it; raises to refuse the start.
SecretEnvironment = Callable[[FunctionRecord], Awaitable[dict[str, str]]]


@dataclass(frozen=True, slots=True)
class ContainerSetup:
    """What a new container gets besides its function's options: credentials for its user
    code, its secrets' variables, its app's bundle; and where its log lines go."""

    credentials: CredentialsFactory
    revoke_credentials: Callable[[str], Awaitable[None]]
    bundle_path: Callable[[str], Path]
    log_sink: LogSink
    secret_environment: SecretEnvironment | None = None


class PoolEvents(Protocol):
    """What the scheduler hears from the containers of its pools."""

    def container_ready(self, pool: Pool) -> None:
        """A new container of `pool` is up: give it what waits."""

    def capacity_freed(self, pool: Pool | None) -> None:
        """A container (of `pool`, where known) went away with its GPUs and its share of the
        server's total: whatever waits anywhere may start now."""

    def start_failed(self, pool: Pool, reason: str) -> None:
        """A container of `pool` could not be started."""

    def is_current(self, pool: Pool) -> bool:
        """Whether the pool is still in use (not stopped while its container started)."""


def _parameter_environment(pool: Pool) -> dict[str, str]:
    """How a container of a class parameter set's pool learns its parameters."""
    parameters = pool.variant.parameters
    if parameters is None:
        return {}
    return {
        PARAMETERS_ENV: base64.b64encode(parameters.data).decode(),
        PARAMETERS_FORMAT_ENV: parameters.format,
    }


class ContainerManager(ContainerEvents):
    """Starts and stops the containers of pools, and holds their GPUs while they live."""

    def __init__(
        self,
        backend_factory: Callable[[ContainerEvents], ContainerBackend],
        setup: ContainerSetup,
        gpus: GpuAllocator,
        max_output_bytes: int,
        events: PoolEvents,
    ) -> None:
        self.backend = backend_factory(self)
        self.gpus = gpus
        self._setup = setup
        self._max_output_bytes = max_output_bytes
        self._events = events
        #: The GPUs each container holds, until it ends.
        self._gpu_holds: dict[str, list[Gpu]] = {}
        self._container_pools: dict[str, Pool] = {}
        self._background: set[asyncio.Future[Any]] = set()
        self._starts: set[asyncio.Future[None]] = set()
        self._closing = False

    def spawn(self, coroutine: Awaitable[Any]) -> asyncio.Future[Any]:
        """Run `coroutine` in the background; `close` waits for it."""
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def pool_of(self, container_id: str) -> Pool | None:
        return self._container_pools.get(container_id)

    def gpus_of(self, container_id: str) -> list[Gpu]:
        return self._gpu_holds.get(container_id, [])

    def start(self, pool: Pool, gpus: list[Gpu]) -> None:
        """Start one more container for `pool`, holding `gpus`."""
        pool.starting += 1
        start = self.spawn(self._start(pool, gpus))
        self._starts.add(start)
        start.add_done_callback(self._starts.discard)

    async def _spec(self, pool: Pool, container_id: str, gpus: list[Gpu]) -> ContainerSpec:
        """What the backend starts; mints the container's token (`spec.token_id`)."""
        function = pool.function
        secret_environment = (
            {}
            if self._setup.secret_environment is None
            else await self._setup.secret_environment(function)
        )
        environment, token_id = await self._setup.credentials(function.workspace_id)
        # The platform's variables (credentials, callback URL) win over a secret's.
        environment = {**secret_environment, **environment, **_parameter_environment(pool)}
        return ContainerSpec(
            container_id=container_id,
            app_id=function.app_id,
            function_name=function.name,
            bundle_path=self._setup.bundle_path(function.bundle_sha256),
            module=function.module,
            app_variable=function.app_variable,
            environment=environment,
            max_inputs=pool.max_inputs,
            function_id=function.function_id,
            token_id=token_id,
            agent_secret=secrets.token_urlsafe(32),
            max_output_bytes=self._max_output_bytes,
            gpu_ids=tuple(gpu.device_id for gpu in gpus),
            gpu_host=gpus[0].host if gpus else "",
            pool_key=pool.key,
            startup_timeout_s=function.options.effective_startup_timeout_s,
            **resources(function),
        )

    async def _start(self, pool: Pool, gpus: list[Gpu]) -> None:
        container_id = new_id("ct")
        spec = None
        self._gpu_holds[container_id] = gpus
        try:
            spec = await self._spec(pool, container_id, gpus)
            self._container_pools[container_id] = pool
            address = await self.backend.start(spec)
        except Exception as exc:
            # Whatever failed (the backend, minting the token), waiting inputs must not hang.
            if not isinstance(exc, RunnerError | GatewayError):
                logger.exception("starting a container of %s failed", pool.function.name)
            pool.starting -= 1
            self._container_pools.pop(container_id, None)
            if self._release_gpus(container_id):
                self._events.capacity_freed(None)  # inputs that waited for a GPU may start now
            if spec is not None:
                await self._setup.revoke_credentials(spec.token_id)
            self._events.start_failed(pool, str(exc) or type(exc).__name__)
            return
        pool.starting -= 1
        pool.failed_starts, pool.next_start_s = 0, 0.0
        container = Container(
            container_id, address, spec.token_id, pool.max_inputs, spec.agent_secret
        )
        pool.containers[container_id] = container
        if self._closing or not self._events.is_current(pool):
            self.stop(pool, container)  # its pool was stopped while it started
            return
        self._events.container_ready(pool)

    def stop(self, pool: Pool, container: Container, grace_s: float = STOP_GRACE_S) -> None:
        """Take a container out of its pool at once; stopping it finishes in the background."""
        if container.stopping and container.container_id not in pool.containers:
            return
        container.stopping = True
        pool.containers.pop(container.container_id, None)
        for connection in container.idle_connections:
            connection.close()
        container.idle_connections.clear()
        self.spawn(self._shut_down(pool, container, grace_s))

    async def _shut_down(self, pool: Pool, container: Container, grace_s: float) -> None:
        try:
            await self.backend.stop(container.container_id, grace_s)
        except RunnerError as exc:
            logger.warning("stopping %s failed: %s", container.container_id, exc)
        await self._setup.revoke_credentials(container.token_id)
        self._events.capacity_freed(pool)

    def adopt(
        self,
        containers: list[AdoptedContainer],
        current: dict[str, FunctionRecord],
        pool_for: Callable[[FunctionRecord], Pool],
    ) -> set[str]:
        """Take on containers an earlier run left, for functions still current (the others
        are stopped); returns the tokens of the containers taken on."""
        kept = set()
        for adopted in containers:
            function = current.get(adopted.function_id)
            if function is None or adopted.pool_key not in ("", adopted.function_id):
                # Gone, or a class parameter set's pool: its parameters are not kept.
                self.spawn(self.backend.stop(adopted.container_id, 0))
                continue
            pool = pool_for(function)
            pool.containers[adopted.container_id] = Container(
                adopted.container_id,
                adopted.address,
                adopted.token_id,
                pool.max_inputs,
                adopted.agent_secret,
            )
            self._container_pools[adopted.container_id] = pool
            held = self.gpus.claim(adopted.gpu_ids, adopted.host)
            if held:
                self._gpu_holds[adopted.container_id] = held
            kept.add(adopted.token_id)
        return kept

    def _release_gpus(self, container_id: str) -> bool:
        held = self._gpu_holds.pop(container_id, None)
        if held:
            self.gpus.release(held)
        return bool(held)

    # ContainerEvents, reported by the backend.

    def on_log(self, container_id: str, stream: LogStream, line: str) -> None:
        pool = self._container_pools.get(container_id)
        if pool is not None:
            self._setup.log_sink(pool.function, container_id, stream, line)

    def on_exit(self, container_id: str, exit_code: int | None, reason: str | None = None) -> None:
        freed_gpus = self._release_gpus(container_id)
        pool = self._container_pools.pop(container_id, None)
        if pool is None:
            if freed_gpus:
                self._events.capacity_freed(None)
            return
        if reason is not None:
            pool.exit_reason = reason
        container = pool.containers.pop(container_id, None)
        if container is not None and not container.stopping:
            logger.warning("container %s exited with %s", container_id, exit_code)
            container.stopping = True
            self.spawn(self._setup.revoke_credentials(container.token_id))
        if container is not None:
            # A child the user forked may keep the socket open: end the inputs on it now.
            for connection in list(container.busy_connections.values()):
                connection.close()
            for connection in container.idle_connections:
                connection.close()
            container.idle_connections.clear()
        self._events.capacity_freed(pool)

    def stop_starting(self) -> None:
        """Start no more containers: the server is closing."""
        self._closing = True
        # Containers still starting are not waited for: the backend stops whatever they began.
        for start in list(self._starts):
            start.cancel()

    async def wait_idle(self) -> None:
        """Wait for every background task (stops, runs) to end."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
