"""Pools of containers per function: start them when inputs wait, reuse warm ones, stop idle ones.

One process owns its pools; a second gateway would need a shared queue (DESIGN.md 4).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.errors import BacklogFull, NoCapacity
from gateway.gpus import Gpu, GpuAllocator, GpuRequest, parse_request
from gateway.ids import new_id
from gateway.models import CallStatus, FunctionRecord
from gateway.tasks import (
    Failure,
    Task,
    TaskSink,
    WebSlot,
    WebUnavailable,
    should_retry_after_container_loss,
)
from runner import (
    AdoptedContainer,
    AgentConnection,
    AgentUnreachable,
    ContainerAddress,
    ContainerBackend,
    ContainerEvents,
    ContainerSpec,
    LogStream,
    Output,
    PayloadFormat,
    RunnerError,
)

logger = logging.getLogger(__name__)

#: Longest wait between two tries at starting a container that keeps failing.
MAX_START_BACKOFF_S = 60.0
#: Seconds a stopping container gets to finish before it is killed.
STOP_GRACE_S = 5.0

#: Mints the credentials a container's user code calls the gateway with: `(environment, token_id)`.
CredentialsFactory = Callable[[str], Awaitable[tuple[dict[str, str], str]]]
LogSink = Callable[[FunctionRecord, str, LogStream, str], None]


@dataclass(slots=True, eq=False)
class Container:
    container_id: str
    address: ContainerAddress
    token_id: str
    max_inputs: int
    agent_secret: str
    idle_connections: list[AgentConnection] = field(default_factory=list)
    running: dict[str, Task] = field(default_factory=dict)
    #: Connections with an input in flight, closed at once if the container dies.
    busy_connections: dict[str, AgentConnection] = field(default_factory=dict)
    last_used_s: float = field(default_factory=time.monotonic)
    stopping: bool = False

    @property
    def has_room(self) -> bool:
        return not self.stopping and len(self.running) < self.max_inputs


@dataclass(slots=True, eq=False)
class Pool:
    function: FunctionRecord
    containers: dict[str, Container] = field(default_factory=dict)
    queue: deque[Task] = field(default_factory=deque)
    starting: int = 0
    #: No longer the function's current version: drains its queue, then scales to zero.
    retired: bool = False
    #: Starts that failed in a row, and when the next may be tried (monotonic seconds).
    failed_starts: int = 0
    next_start_s: float = 0.0
    #: Why a container of the pool last ended, where the backend said (out of memory).
    exit_reason: str | None = None

    @property
    def option_min(self) -> int:
        return 0 if self.retired else int(self.function.options.get("min_containers", 0))

    @property
    def option_max(self) -> int | None:
        value = self.function.options.get("max_containers")
        return None if value is None else int(value)

    @property
    def max_inputs(self) -> int:
        return max(1, int(self.function.options.get("max_inputs", 1)))

    @property
    def scaledown_window_s(self) -> float:
        return float(self.function.options.get("scaledown_window_s", 60.0))

    @property
    def timeout_s(self) -> float:
        return float(self.function.options.get("timeout_s", 300.0))


def _resources(function: FunctionRecord) -> dict[str, Any]:
    """What a function asks of its containers, for the backend: CPU, memory, its own server,
    its image."""
    options, web = function.options, function.definition.get("web") or {}
    return {
        "cpu": options.get("cpu"),
        "memory_mb": options.get("memory_mb"),
        "serves_web": bool(web),
        "web_server_port": web.get("port") if web.get("kind") == "server" else None,
        "image": function.definition.get("image_tag"),
    }


def gpu_requests(function: FunctionRecord) -> list[GpuRequest]:
    """What the function asks for, in order of preference (checked at deploy)."""
    return [parse_request(str(gpu)) for gpu in function.options.get("gpu", [])]


def containers_to_start(pool: Pool) -> int:
    """How many containers to start now for the waiting inputs and the minimum."""
    slots_coming = pool.starting * pool.max_inputs
    free_slots = sum(c.max_inputs - len(c.running) for c in pool.containers.values() if c.has_room)
    waiting = len(pool.queue) - free_slots - slots_coming
    wanted = max(
        -(-waiting // pool.max_inputs), pool.option_min - len(pool.containers) - pool.starting, 0
    )
    if pool.option_max is not None:
        wanted = min(wanted, pool.option_max - len(pool.containers) - pool.starting)
    return max(wanted, 0)


class Scheduler:
    """Places tasks on containers of their function's pool and scales the pools."""

    def __init__(
        self,
        backend_factory: Callable[[ContainerEvents], ContainerBackend],
        sink: TaskSink,
        credentials: CredentialsFactory,
        revoke_credentials: Callable[[str], Awaitable[None]],
        bundle_path: Callable[[str], Path],
        log_sink: LogSink,
        max_body_bytes: int,
        max_total_containers: int,
        max_backlog: int = 2000,
        gpus: GpuAllocator | None = None,
    ) -> None:
        self._backend = backend_factory(self)
        self._gpus = gpus or GpuAllocator([])
        #: The GPUs each container holds, until it ends.
        self._gpu_holds: dict[str, list[Gpu]] = {}
        self._sink = sink
        self._credentials = credentials
        self._revoke_credentials = revoke_credentials
        self._bundle_path = bundle_path
        self._log_sink = log_sink
        self._max_body_bytes = max_body_bytes
        self._max_total_containers = max_total_containers
        self._max_backlog = max_backlog
        self._pools: dict[str, Pool] = {}
        self._container_pools: dict[str, Pool] = {}
        self._background: set[asyncio.Future[None]] = set()
        self._starts: set[asyncio.Future[None]] = set()
        self._closing = False

    @property
    def backend(self) -> ContainerBackend:
        """Where containers run (and images are built)."""
        return self._backend

    def _spawn(self, coroutine: Awaitable[None]) -> asyncio.Future[None]:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def _pool(self, function: FunctionRecord) -> Pool:
        pool = self._pools.get(function.function_id)
        if pool is None:
            pool = self._pools[function.function_id] = Pool(function)
        return pool

    def admit(self, function: FunctionRecord) -> None:
        """Refuse new work for a function that no runner can host, or whose queue is full.

        Raises:
            BacklogFull: `max_backlog` inputs already wait.
            NoCapacity: the function asks for GPUs this server does not have at all.
        """
        requests = gpu_requests(function)
        if requests and not self._gpus.feasible(requests):
            asked = " or ".join(str(request) for request in requests)
            raise NoCapacity(
                f"{function.name} asks for {asked} GPU(s), and no runner has that "
                f"(this server has {self._gpus.describe()})"
            )
        pool = self._pools.get(function.function_id)
        if pool is not None and len(pool.queue) >= self._max_backlog:
            raise BacklogFull(function.name, self._max_backlog)

    def submit(self, task: Task) -> None:
        """Queue a task; it runs as soon as a container of its function has room."""
        pool = self._pool(task.function)
        pool.queue.append(task)
        self._dispatch(pool)

    def _dispatch(self, pool: Pool) -> None:
        if self._closing:
            return
        while pool.queue:
            container = self._pick_container(pool)
            if container is None:
                break
            task = pool.queue.popleft()
            if task.finished:
                continue
            task.container_id = container.container_id
            container.running[task.call_id] = task
            if task.web is not None:
                self._assign_web(pool, container, task.web, task)
            else:
                self._spawn(self._run(pool, container, task))
        wanted = containers_to_start(pool)
        if wanted and time.monotonic() >= pool.next_start_s:
            free = self._max_total_containers - self._total_containers()
            if free < wanted:
                self._evict_idle(wanted - free, keep=pool)
                free = self._max_total_containers - self._total_containers()
            requests = gpu_requests(pool.function)
            for _ in range(min(wanted, free)):
                gpus = self._gpus.allocate(requests) if requests else []
                if gpus is None:
                    # Every fitting GPU is taken: idle containers of other functions give theirs
                    # back; meanwhile the inputs wait.
                    self._evict_gpu_holders(requests, keep=pool)
                    break
                pool.starting += 1
                start = self._spawn(self._start_container(pool, gpus))
                self._starts.add(start)
                start.add_done_callback(self._starts.discard)

    def _total_containers(self) -> int:
        return sum(len(p.containers) + p.starting for p in self._pools.values())

    def _evict_idle(self, count: int, keep: Pool) -> None:
        """Stop up to `count` idle containers of other pools (above their minimum), LRU first."""
        idle = sorted(
            (container.last_used_s, id(container), pool, container)
            for pool in self._pools.values()
            if pool is not keep
            for container in pool.containers.values()
            if not container.running and not container.stopping
        )
        for _, _, pool, container in idle:
            if count == 0:
                return
            if len(pool.containers) > pool.option_min:  # minimums are kept
                self._stop_container(pool, container)
                count -= 1

    def _evict_gpu_holders(self, requests: list[GpuRequest], keep: Pool) -> None:
        """Stop one idle container of another pool (above its minimum) holding a fitting GPU."""
        for pool in self._pools.values():
            if pool is keep or len(pool.containers) <= pool.option_min:
                continue
            for container in list(pool.containers.values()):
                held = self._gpu_holds.get(container.container_id, [])
                fits = any(request.matches(gpu) for request in requests for gpu in held)
                if fits and not container.running and not container.stopping:
                    self._stop_container(pool, container)
                    return

    def _dispatch_waiting(self) -> None:
        """Capacity came free: give it to pools whose inputs wait."""
        for pool in list(self._pools.values()):
            if pool.queue:
                self._dispatch(pool)

    @staticmethod
    def _pick_container(pool: Pool) -> Container | None:
        # The most recently used container with room: warm caches stay warm, others idle out.
        candidates = [c for c in pool.containers.values() if c.has_room]
        return max(candidates, key=lambda c: c.last_used_s, default=None)

    async def _run(self, pool: Pool, container: Container, task: Task) -> None:
        connection = (
            container.idle_connections.pop()
            if container.idle_connections
            else AgentConnection(
                container.address.host,
                container.address.port,
                container.container_id,
                self._max_body_bytes,
                container.agent_secret,
            )
        )
        item = task.next_input(new_id("in"))
        container.busy_connections[task.call_id] = connection
        healthy = True
        try:
            async with asyncio.timeout(pool.timeout_s):
                output = await connection.run(item)
        except AgentUnreachable as exc:
            healthy = False
            self._lost_input(pool, task, exc)
        except TimeoutError:
            healthy = False
            task.timed_out = True
            self._finish(
                task,
                Failure(
                    CallStatus.FAILURE,
                    "function_timeout",
                    f"the function ran longer than its timeout of {pool.timeout_s:g} s",
                ),
            )
        except Exception as exc:
            logger.exception("running call %s failed in the gateway", task.call_id)
            healthy = False
            self._lost_input(pool, task, RunnerError(f"the gateway failed to run it: {exc}"))
        else:
            self._finish(task, output)
        finally:
            container.running.pop(task.call_id, None)
            container.busy_connections.pop(task.call_id, None)
            container.last_used_s = time.monotonic()
        if healthy and not container.stopping:
            container.idle_connections.append(connection)
        else:
            connection.close()  # a stopping container's idle connections are already closed
            if not healthy and not container.stopping:
                grace_s = 0 if task.timed_out else STOP_GRACE_S
                self._stop_container(pool, container, grace_s=grace_s)
        self._dispatch(pool)

    def _assign_web(self, pool: Pool, container: Container, slot: WebSlot, task: Task) -> None:
        """Give a waiting web request its container, and arm the function's timeout."""
        task.attempt += 1
        slot.holder = (pool, container)
        slot.timer = asyncio.get_running_loop().call_later(
            pool.timeout_s, self._web_timed_out, task
        )
        if not slot.container.done():
            slot.container.set_result(container.address)

    def _web_timed_out(self, task: Task) -> None:
        task.timed_out = True
        logger.warning("a web request to %s ran past its timeout", task.function.name)
        self.release(task, healthy=False)

    async def lease(
        self, workspace_id: str, function: FunctionRecord
    ) -> tuple[Task, ContainerAddress]:
        """Hold a container of `function` for one web request; give it back with `release`.

        Raises:
            WebUnavailable: no container could be started for it.
        """
        self.admit(function)
        slot = WebSlot.new()
        task = Task(new_id("wr"), workspace_id, function, PayloadFormat.JSON, b"", False, False)
        task.web = slot
        self.submit(task)
        try:
            return task, await slot.container
        except asyncio.CancelledError:
            self.release(task, healthy=True)
            raise

    def release(self, task: Task, *, healthy: bool) -> None:
        """A web request is done with its container (or no longer wants one)."""
        task.finished = True
        slot = task.web
        if slot is None or slot.ended:
            return
        slot.ended = True
        if slot.timer is not None:
            slot.timer.cancel()
        if slot.holder is None:
            return  # still queued: the dispatcher skips finished tasks
        pool, container = slot.holder
        container.running.pop(task.call_id, None)
        container.last_used_s = time.monotonic()
        if not healthy and not container.stopping:
            # A request past its timeout is stuck: kill at once, so no late answer slips out.
            self._stop_container(pool, container, grace_s=0 if task.timed_out else STOP_GRACE_S)
        self._dispatch(pool)

    def _finish(self, task: Task, result: Output | Failure) -> None:
        """Report how a task ended: to the call service, or to a waiting web request."""
        if task.web is None:
            self._sink.task_finished(task, result)
        elif not task.web.container.done() and isinstance(result, Failure):
            task.finished = True
            task.web.container.set_exception(WebUnavailable(result))

    def _lost_input(self, pool: Pool, task: Task, exc: RunnerError) -> None:
        if task.finished or self._closing:
            return  # when closing, the call stays running in the store and is recovered
        if should_retry_after_container_loss(task):
            logger.warning("retrying call %s: %s", task.call_id, exc)
            task.container_id = None
            pool.queue.appendleft(task)
            return
        self._finish(
            task,
            Failure(
                CallStatus.TERMINATED,
                "call_terminated",
                f"the call's container stopped unexpectedly on each of {task.attempt} attempts"
                + (f" ({pool.exit_reason})" if pool.exit_reason else ""),
            ),
        )

    async def _start_container(self, pool: Pool, gpus: list[Gpu]) -> None:
        container_id = new_id("ct")
        token_id = None
        self._gpu_holds[container_id] = gpus
        try:
            environment, token_id = await self._credentials(pool.function.workspace_id)
            spec = ContainerSpec(
                container_id=container_id,
                app_id=pool.function.app_id,
                function_name=pool.function.name,
                bundle_path=self._bundle_path(pool.function.bundle_sha256),
                module=pool.function.module,
                app_variable=pool.function.app_variable,
                environment=environment,
                max_inputs=pool.max_inputs,
                function_id=pool.function.function_id,
                token_id=token_id,
                agent_secret=secrets.token_urlsafe(32),
                max_output_bytes=self._max_body_bytes,
                gpu_ids=tuple(gpu.device_id for gpu in gpus),
                gpu_host=gpus[0].host if gpus else "",
                **_resources(pool.function),
            )
            self._container_pools[container_id] = pool
            address = await self._backend.start(spec)
        except Exception as exc:
            # Whatever failed (the backend, minting the token), waiting inputs must not hang.
            if not isinstance(exc, RunnerError):
                logger.exception("starting a container of %s failed", pool.function.name)
            pool.starting -= 1
            self._container_pools.pop(container_id, None)
            self._release_gpus(container_id)
            if token_id is not None:
                await self._revoke_credentials(token_id)
            self._startup_failed(pool, str(exc) or type(exc).__name__)
            return
        pool.starting -= 1
        pool.failed_starts, pool.next_start_s = 0, 0.0
        container = Container(container_id, address, token_id, pool.max_inputs, spec.agent_secret)
        pool.containers[container_id] = container
        if self._closing or self._pools.get(pool.function.function_id) is not pool:
            self._stop_container(pool, container)  # its pool was stopped while it started
            return
        self._dispatch(pool)

    def _startup_failed(self, pool: Pool, reason: str) -> None:
        logger.warning("container of %s failed to start: %s", pool.function.name, reason)
        # Back off, so a function that cannot start (kept at min_containers) is not retried in
        # a tight loop; the sweep tries again once the wait is over.
        pool.failed_starts += 1
        pool.next_start_s = time.monotonic() + min(2.0**pool.failed_starts, MAX_START_BACKOFF_S)
        if pool.containers or pool.starting:
            return  # the waiting inputs still have somewhere to go
        while pool.queue:
            task = pool.queue.popleft()
            if not task.finished:
                self._finish(task, Failure(CallStatus.FAILURE, "startup_failed", reason))

    def _stop_container(
        self, pool: Pool, container: Container, grace_s: float = STOP_GRACE_S
    ) -> None:
        """Take a container out of its pool at once; stopping it finishes in the background."""
        if container.stopping and container.container_id not in pool.containers:
            return
        container.stopping = True
        pool.containers.pop(container.container_id, None)
        for connection in container.idle_connections:
            connection.close()
        container.idle_connections.clear()
        self._spawn(self._shut_down(pool, container, grace_s))

    async def _shut_down(self, pool: Pool, container: Container, grace_s: float) -> None:
        try:
            await self._backend.stop(container.container_id, grace_s)
        except RunnerError as exc:
            logger.warning("stopping %s failed: %s", container.container_id, exc)
        await self._revoke_credentials(container.token_id)
        self._dispatch(pool)
        self._dispatch_waiting()

    def cancel(self, task: Task) -> None:
        """Drop a task the caller has finished (cancelled); stop the container running it."""
        pool = self._pools.get(task.function.function_id)
        if pool is None:
            return
        if task in pool.queue:
            pool.queue.remove(task)
            return
        container = pool.containers.get(task.container_id or "")
        if container is not None and task.call_id in container.running:
            self._stop_container(pool, container, grace_s=0)  # the input is abandoned

    def adopt(
        self, containers: list[AdoptedContainer], current: dict[str, FunctionRecord]
    ) -> set[str]:
        """Take on containers an earlier run left, for functions still current (the others
        are stopped); returns the tokens of the containers taken on."""
        kept = set()
        for adopted in containers:
            function = current.get(adopted.function_id)
            if function is None:
                self._spawn(self._backend.stop(adopted.container_id, 0))
                continue
            pool = self._pool(function)
            pool.containers[adopted.container_id] = Container(
                adopted.container_id,
                adopted.address,
                adopted.token_id,
                pool.max_inputs,
                adopted.agent_secret,
            )
            self._container_pools[adopted.container_id] = pool
            held = self._gpus.claim(adopted.gpu_ids, adopted.host)
            if held:
                self._gpu_holds[adopted.container_id] = held
            kept.add(adopted.token_id)
        return kept

    def prepare(self, functions: list[FunctionRecord]) -> None:
        """Create the pools of a function version that just became current, so each starts its
        `min_containers` without waiting for a first call."""
        for function in functions:
            if int(function.options.get("min_containers", 0)) > 0:
                self._dispatch(self._pool(function))

    def retire(self, function_ids: set[str]) -> None:
        """These functions were replaced or stopped: drain their queues, then scale to zero."""
        for function_id in function_ids:
            pool = self._pools.get(function_id)
            if pool is not None:
                pool.retired = True

    def terminate_app(self, app_id: str, reason: str) -> None:
        """Stop every pool of an app now: waiting and running calls end as terminated."""
        for function_id, pool in list(self._pools.items()):
            if pool.function.app_id != app_id:
                continue
            del self._pools[function_id]
            pool.retired = True
            tasks = [
                *pool.queue,
                *(t for c in pool.containers.values() for t in c.running.values()),
            ]
            pool.queue.clear()
            for task in tasks:
                if not task.finished:
                    self._finish(task, Failure(CallStatus.TERMINATED, "call_terminated", reason))
            for container in list(pool.containers.values()):
                self._stop_container(pool, container, grace_s=0)

    def stats(self, function_id: str) -> tuple[int, int, int]:
        """`(backlog, active containers, all containers)` of a function, right now."""
        pool = self._pools.get(function_id)
        if pool is None:
            return 0, 0, 0
        active = sum(1 for c in pool.containers.values() if c.running)
        return len(pool.queue), active, len(pool.containers) + pool.starting

    def sweep(self) -> None:
        """Stop containers idle past their window (down to the minimum); start up to it."""
        now = time.monotonic()
        for function_id, pool in list(self._pools.items()):
            idle = sorted(
                (c for c in pool.containers.values() if not c.running and not c.stopping),
                key=lambda c: c.last_used_s,
            )
            surplus = len(pool.containers) - pool.option_min
            for container in idle[: max(surplus, 0)]:
                if pool.retired or now - container.last_used_s >= pool.scaledown_window_s:
                    self._stop_container(pool, container)
            if pool.retired and not pool.queue and not pool.containers and not pool.starting:
                del self._pools[function_id]
            else:
                self._dispatch(pool)

    # ContainerEvents, reported by the backend.

    def on_log(self, container_id: str, stream: LogStream, line: str) -> None:
        pool = self._container_pools.get(container_id)
        if pool is not None:
            self._log_sink(pool.function, container_id, stream, line)

    def _release_gpus(self, container_id: str) -> None:
        held = self._gpu_holds.pop(container_id, None)
        if held:
            self._gpus.release(held)
            self._dispatch_waiting()  # inputs that waited for a GPU may start now

    def on_exit(self, container_id: str, exit_code: int | None, reason: str | None = None) -> None:
        self._release_gpus(container_id)
        pool = self._container_pools.pop(container_id, None)
        if pool is None:
            return
        if reason is not None:
            pool.exit_reason = reason
        container = pool.containers.pop(container_id, None)
        if container is not None and not container.stopping:
            logger.warning("container %s exited with %s", container_id, exit_code)
            container.stopping = True
            self._spawn(self._revoke_credentials(container.token_id))
        if container is not None:
            # A child the user forked may keep the socket open: end the inputs on it now.
            for connection in list(container.busy_connections.values()):
                connection.close()
            for connection in container.idle_connections:
                connection.close()
            container.idle_connections.clear()
        self._dispatch(pool)
        self._dispatch_waiting()

    async def close(self) -> None:
        """Stop every container; calls still running are recovered at the next start."""
        self._closing = True
        # Containers still starting are not waited for: the backend stops whatever they began.
        for start in list(self._starts):
            start.cancel()
        for pool in self._pools.values():
            pool.retired = True
            for container in list(pool.containers.values()):
                self._stop_container(pool, container)
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self._backend.close()
