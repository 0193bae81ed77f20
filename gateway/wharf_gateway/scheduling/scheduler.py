"""Pools of containers per function: start them when inputs wait, reuse warm ones, stop idle ones.

One process owns its pools; a second gateway would need a shared queue (DESIGN.md 4).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path

from wharf.error_codes import ErrorCode
from wharf_runner import (
    PARAMETERS_ENV,
    PARAMETERS_FORMAT_ENV,
    AdoptedContainer,
    AgentConnection,
    AgentUnreachable,
    ContainerAddress,
    ContainerBackend,
    ContainerEvents,
    ContainerSpec,
    Input,
    LogStream,
    Output,
    OutputStatus,
    PayloadFormat,
    RunnerError,
)

from wharf_gateway.calls.retries import RetryPolicy
from wharf_gateway.errors import BacklogFull, GatewayError, InvalidRequest, NoCapacity, TooManyPools
from wharf_gateway.ids import new_id
from wharf_gateway.models import CallStatus, FunctionRecord
from wharf_gateway.scheduling.gpus import Gpu, GpuAllocator, GpuRequest
from wharf_gateway.scheduling.pools import (
    Container,
    Pool,
    containers_to_start,
    gpu_requests,
    idle_surplus,
    resources,
)
from wharf_gateway.scheduling.tasks import (
    Failure,
    Task,
    TaskSink,
    Variant,
    WebSlot,
    WebUnavailable,
    default_variant,
    should_retry_after_container_loss,
)

logger = logging.getLogger(__name__)

#: Longest wait between two tries at starting a container that keeps failing.
MAX_START_BACKOFF_S = 60.0
#: Seconds a stopping container gets to finish before it is killed.
STOP_GRACE_S = 5.0

#: Mints the credentials a container's user code calls the gateway with: `(environment, token_id)`.
CredentialsFactory = Callable[[str], Awaitable[tuple[dict[str, str], str]]]
LogSink = Callable[[FunctionRecord, str, LogStream, str], None]
#: The variables of a function's secrets, for a new container of it; raises to refuse the start.
SecretEnvironment = Callable[[FunctionRecord], Awaitable[dict[str, str]]]


async def _send(
    connection: AgentConnection, batch: list[Task], items: list[Input]
) -> tuple[list[Output], float | None]:
    """Run the inputs: a generator's values go to its stream as they come; a batch's outputs
    come back together, with the seconds the function ran (None for a stream, whose length
    says nothing of how long inputs take)."""
    stream = batch[0].stream
    if stream is not None:
        return [await connection.run_generator(items[0], stream.put)], None
    return await connection.run_batch(items)


def _more_for_batch(pool: Pool, budget_bytes: int) -> list[Task]:
    """More waiting inputs to send with the first, for a function fast enough that one
    request per input would cost more than the inputs themselves (`Pool.batch_size`)."""
    more: list[Task] = []
    while len(more) + 1 < pool.batch_size and pool.queue:
        task = pool.queue[0]
        if task.runs_alone:
            break
        budget_bytes -= len(task.payload)
        if budget_bytes < 0:
            break  # the batch's payloads stay well within what the agent reads
        pool.queue.popleft()
        if not task.finished:
            more.append(task)
    return more


def _parameter_environment(pool: Pool) -> dict[str, str]:
    """How a container of a class parameter set's pool learns its parameters."""
    parameters = pool.variant.parameters
    if parameters is None:
        return {}
    return {
        PARAMETERS_ENV: base64.b64encode(parameters.data).decode(),
        PARAMETERS_FORMAT_ENV: parameters.format,
    }


def _startup_timeout_s(pool: Pool) -> float:
    """How long a container may take to start, `@enter` methods included."""
    options = pool.function.options
    return float(options.get("startup_timeout_s") or options.get("timeout_s", 300.0))


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
        secret_environment: SecretEnvironment | None = None,
        max_variant_pools: int = 100,
    ) -> None:
        self._backend = backend_factory(self)
        self._gpus = gpus or GpuAllocator([])
        #: The GPUs each container holds, until it ends.
        self._gpu_holds: dict[str, list[Gpu]] = {}
        self._sink = sink
        self._credentials = credentials
        self._secret_environment = secret_environment
        self._revoke_credentials = revoke_credentials
        self._bundle_path = bundle_path
        self._log_sink = log_sink
        self._max_body_bytes = max_body_bytes
        self._max_total_containers = max_total_containers
        self._max_backlog = max_backlog
        self._max_variant_pools = max_variant_pools
        self._not_backlog: Callable[[str], int] = lambda function_id: 0
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

    def _pool(self, function: FunctionRecord, variant: Variant | None = None) -> Pool:
        variant = variant or Variant()
        key = function.function_id + variant.pool_suffix
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = Pool(key, variant.apply(function), variant)
        return pool

    def _pools_of(self, function_id: str) -> list[Pool]:
        return [p for p in self._pools.values() if p.function.function_id == function_id]

    def admit(
        self, function: FunctionRecord, variant: Variant | None = None, *, backlog: bool = True
    ) -> None:
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
        pools = self._pools_of(function.function_id)
        waiting = sum(pool.backlog for pool in pools) - self._not_backlog(function.function_id)
        if backlog and waiting >= self._max_backlog:
            raise BacklogFull(function.name, self._max_backlog)
        key = function.function_id + (variant or Variant()).pool_suffix
        variants = sum(1 for pool in pools if pool.key != function.function_id)
        if key not in self._pools and key != function.function_id:
            # Each class parameter set (from anyone who can reach a public endpoint) would
            # start containers of its own: a bound, until idle ones scale to zero.
            if variants >= self._max_variant_pools:
                raise TooManyPools(function.name, self._max_variant_pools)

    def exclude_from_backlog(self, count: Callable[[str], int]) -> None:
        """Tell the backlog limit which of a function's waiting inputs not to count (maps',
        bounded by their own windows): `count(function_id)`, an upper bound."""
        self._not_backlog = count

    def abandon_finished(self, function: FunctionRecord, variant: Variant) -> None:
        """Let go of tasks marked finished without an outcome (a closed map's): those waiting
        leave the queue now rather than when their turn comes, and a container running nothing
        but such inputs is stopped, so nothing runs for nobody."""
        pool = self._pools.get(function.function_id + variant.pool_suffix)
        if pool is None:
            return
        pool.queue = deque(task for task in pool.queue if not task.finished)
        for container in list(pool.containers.values()):
            running = container.running.values()
            if running and not container.stopping and all(task.finished for task in running):
                self._stop_container(pool, container, grace_s=0)

    def submit(self, task: Task) -> None:
        """Queue a task; it runs as soon as a container of its function has room."""
        self.submit_many([task])

    def submit_many(self, tasks: list[Task]) -> None:
        """Queue tasks of one function and variant (a map's batch of inputs) at once."""
        if not tasks:
            return
        pool = self._pool(tasks[0].function, tasks[0].variant)
        pool.queue.extend(tasks)
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
            budget = self._max_body_bytes // 4 - len(task.payload)
            batch = [task] if task.runs_alone else [task, *_more_for_batch(pool, budget)]
            container.busy += 1
            for member in batch:
                member.container_id = container.container_id
                container.running[member.call_id] = member
            if task.web is not None:
                self._assign_web(pool, container, task.web, task)
            else:
                self._spawn(self._run(pool, container, batch))
        self._scale_up(pool)

    def _scale_up(self, pool: Pool) -> None:
        """Start the containers the pool wants, within the server's total and its GPUs."""
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
            if idle_surplus(pool) > 0:  # minimums and buffers are kept
                self._stop_container(pool, container)
                count -= 1

    def _evict_gpu_holders(self, requests: list[GpuRequest], keep: Pool) -> None:
        """Stop one idle container of another pool (above its minimum) holding a fitting GPU."""
        for pool in self._pools.values():
            if pool is keep or idle_surplus(pool) == 0:
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

    async def _run(self, pool: Pool, container: Container, batch: list[Task]) -> None:
        """Run one input on the container, or a batch of a fast function's inputs in turn."""
        connection = self._connection(container)
        items = [task.next_input(new_id("in")) for task in batch]
        for task in batch:
            container.busy_connections[task.call_id] = connection
        healthy, timed_out = True, False
        try:
            async with asyncio.timeout(pool.timeout_s):
                outputs, busy_s = await _send(connection, batch, items)
        except AgentUnreachable as exc:
            healthy = False
            self._lost_inputs(pool, batch, exc)
        except TimeoutError:
            healthy, timed_out = False, True
            self._timed_out(pool, batch)
        except Exception as exc:
            logger.exception("running %s failed in the gateway", batch[0].call_id)
            healthy = False
            self._lost_inputs(pool, batch, RunnerError(f"the gateway failed to run it: {exc}"))
        else:
            if busy_s is not None:
                pool.record_duration(busy_s / len(outputs))
            self._outputs_arrived(pool, batch, outputs)
        finally:
            container.busy -= 1
            for task in batch:
                container.running.pop(task.call_id, None)
                container.busy_connections.pop(task.call_id, None)
            container.last_used_s = time.monotonic()
        if healthy and not container.stopping:
            container.idle_connections.append(connection)
        else:
            connection.close()  # a stopping container's idle connections are already closed
            if not healthy and not container.stopping:
                grace_s = 0 if timed_out else STOP_GRACE_S
                self._stop_container(pool, container, grace_s=grace_s)
        self._dispatch(pool)

    def _connection(self, container: Container) -> AgentConnection:
        """A kept-alive connection to the container's agent (a new one if none is idle)."""
        if container.idle_connections:
            return container.idle_connections.pop()
        return AgentConnection(
            container.address.host,
            container.address.port,
            container.container_id,
            self._max_body_bytes,
            container.agent_secret,
        )

    def _outputs_arrived(self, pool: Pool, batch: list[Task], outputs: list[Output]) -> None:
        for task, output in zip(batch, outputs, strict=False):
            if not self._retry_later(pool, task, output):
                self._finish(task, output)
        # Inputs whose outputs would not fit in the answer go first next time.
        pool.queue.extendleft(reversed(batch[len(outputs) :]))

    def _timed_out(self, pool: Pool, batch: list[Task]) -> None:
        """An input ran past the function's timeout: alone, it fails with
        `FunctionTimeoutError`; in a batch, which one is not known, so the batch runs again
        one input at a time (its container is stopped either way)."""
        if len(batch) > 1:
            self._rerun_alone(pool, batch)
            return
        task = batch[0]
        task.timed_out = True
        self._finish(
            task,
            Failure(
                CallStatus.FAILURE,
                ErrorCode.FUNCTION_TIMEOUT,
                f"the function ran longer than its timeout of {pool.timeout_s:g} s",
            ),
        )

    def _retry_later(self, pool: Pool, task: Task, output: Output) -> bool:
        """Queue a failed input again after its policy's wait, if it has retries left."""
        policy = RetryPolicy.of(pool.function.options)
        if output.status is not OutputStatus.FAILURE or task.retries >= policy.max_retries:
            return False
        if task.stream is not None and task.stream.sequence:
            return False  # its caller has values already: running it again would repeat them
        task.retries += 1
        delay_s = policy.delay_s(task.retries)
        logger.info("retrying call %s in %g s (retry %d)", task.call_id, delay_s, task.retries)

        def requeue() -> None:
            # The pool is kept while tasks wait in it (a stop ends them and cancels this).
            pool.delayed.pop(task, None)
            if not task.finished and not self._closing:
                pool.queue.append(task)
                self._dispatch(pool)

        pool.delayed[task] = asyncio.get_running_loop().call_later(delay_s, requeue)
        return True

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
        self, workspace_id: str, function: FunctionRecord, variant: Variant | None = None
    ) -> tuple[Task, ContainerAddress]:
        """Hold a container of `function` for one web request; give it back with `release`.

        Raises:
            WebUnavailable: no container could be started for it.
        """
        self.admit(function, variant)
        slot = WebSlot.new()
        task = Task(new_id("wr"), workspace_id, function, PayloadFormat.JSON, b"", False, False)
        task.variant = variant or Variant()
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
        if container.running.pop(task.call_id, None) is not None:
            container.busy -= 1
        container.last_used_s = time.monotonic()
        if not healthy and not container.stopping:
            # A request past its timeout is stuck: kill at once, so no late answer slips out.
            self._stop_container(pool, container, grace_s=0 if task.timed_out else STOP_GRACE_S)
        self._dispatch(pool)

    def _finish(self, task: Task, result: Output | Failure) -> None:
        """Report how a task ended: to the call service, or to a waiting web request."""
        if task.web is None:
            (task.sink or self._sink).task_finished(task, result)
        elif not task.web.container.done() and isinstance(result, Failure):
            task.finished = True
            task.web.container.set_exception(WebUnavailable(result))

    def _lost_inputs(self, pool: Pool, batch: list[Task], exc: RunnerError) -> None:
        if len(batch) > 1:
            self._rerun_alone(pool, batch)
            return
        self._lost_input(pool, batch[0], exc)

    def _rerun_alone(self, pool: Pool, batch: list[Task]) -> None:
        """A batch's container died or hung, and which input was to blame is not known: each
        runs again on its own, uncharged, so only the culprit is charged the next time."""
        if self._closing:
            return
        for task in batch:
            task.alone = True
        pool.queue.extendleft(reversed([task for task in batch if not task.finished]))

    def _lost_input(self, pool: Pool, task: Task, exc: RunnerError) -> None:
        if task.finished or self._closing:
            return  # when closing, the call stays running in the store and is recovered
        streamed = task.stream is not None and task.stream.sequence > 0
        if not streamed and should_retry_after_container_loss(task):
            logger.warning("retrying call %s: %s", task.call_id, exc)
            task.container_id = None
            pool.queue.appendleft(task)
            return
        self._finish(
            task,
            Failure(
                CallStatus.TERMINATED,
                ErrorCode.CALL_TERMINATED,
                f"the call's container stopped unexpectedly on each of {task.losses} attempts"
                + (f" ({pool.exit_reason})" if pool.exit_reason else ""),
            ),
        )

    async def _start_container(self, pool: Pool, gpus: list[Gpu]) -> None:
        container_id = new_id("ct")
        token_id = None
        self._gpu_holds[container_id] = gpus
        try:
            secret_environment = (
                {}
                if self._secret_environment is None
                else await self._secret_environment(pool.function)
            )
            environment, token_id = await self._credentials(pool.function.workspace_id)
            # The platform's variables (credentials, callback URL) win over a secret's.
            environment = {**secret_environment, **environment}
            spec = ContainerSpec(
                container_id=container_id,
                app_id=pool.function.app_id,
                function_name=pool.function.name,
                bundle_path=self._bundle_path(pool.function.bundle_sha256),
                module=pool.function.module,
                app_variable=pool.function.app_variable,
                environment={**environment, **_parameter_environment(pool)},
                max_inputs=pool.max_inputs,
                function_id=pool.function.function_id,
                token_id=token_id,
                agent_secret=secrets.token_urlsafe(32),
                max_output_bytes=self._max_body_bytes,
                gpu_ids=tuple(gpu.device_id for gpu in gpus),
                gpu_host=gpus[0].host if gpus else "",
                pool_key=pool.key,
                startup_timeout_s=_startup_timeout_s(pool),
                **resources(pool.function),
            )
            self._container_pools[container_id] = pool
            address = await self._backend.start(spec)
        except Exception as exc:
            # Whatever failed (the backend, minting the token), waiting inputs must not hang.
            if not isinstance(exc, RunnerError | GatewayError):
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
        if self._closing or self._pools.get(pool.key) is not pool:
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
                self._finish(task, Failure(CallStatus.FAILURE, ErrorCode.STARTUP_FAILED, reason))

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
        pool = self._pools.get(task.pool_key)
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
            if function is None or adopted.pool_key not in ("", adopted.function_id):
                # Gone, or a class parameter set's pool: its parameters are not kept.
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
            self._warm_up(function)

    def _warm_up(self, function: FunctionRecord) -> None:
        """Start a function's `min_containers` (for a class: those of its default parameters,
        when it has defaults for all of them)."""
        if int(function.options.get("min_containers", 0)) == 0:
            return
        try:
            variant = default_variant(function)
        except InvalidRequest:
            return  # a class that needs parameters: its pools start with their calls
        self._dispatch(self._pool(function, variant))

    def retire(self, function_ids: set[str]) -> None:
        """These functions were replaced or stopped: drain their queues, then scale to zero."""
        for pool in self._pools.values():
            if pool.function.function_id in function_ids:
                pool.retired = True

    def terminate_app(self, app_id: str, reason: str) -> None:
        """Stop every pool of an app now: waiting and running calls end as terminated."""
        for key, pool in list(self._pools.items()):
            if pool.function.app_id != app_id:
                continue
            del self._pools[key]
            pool.retired = True
            tasks = [
                *pool.queue,
                *pool.delayed,
                *(t for c in pool.containers.values() for t in c.running.values()),
            ]
            pool.queue.clear()
            for timer in pool.delayed.values():
                timer.cancel()
            pool.delayed.clear()
            for task in tasks:
                if not task.finished:
                    self._finish(
                        task, Failure(CallStatus.TERMINATED, ErrorCode.CALL_TERMINATED, reason)
                    )
            for container in list(pool.containers.values()):
                self._stop_container(pool, container, grace_s=0)

    def stats(self, function_id: str) -> dict[str, int]:
        """A function's backlog, containers, running inputs and headroom right now, over all
        its pools (`FunctionStats`)."""
        pools = self._pools_of(function_id)
        return {
            "backlog": sum(p.backlog for p in pools),
            "num_active_runners": sum(1 for p in pools for c in p.containers.values() if c.running),
            "num_total_runners": sum(len(p.containers) + p.starting for p in pools),
            "num_running_inputs": sum(p.running_inputs for p in pools),
            "headroom": sum(p.headroom for p in pools),
        }

    def is_running(self, task: Task) -> bool:
        """Whether the task is in a container now (rather than waiting in its pool)."""
        pool = self._container_pools.get(task.container_id or "")
        container = pool.containers.get(task.container_id or "") if pool is not None else None
        return container is not None and task.call_id in container.running

    def update_options(self, function: FunctionRecord) -> None:
        """The function's autoscaler settings changed: its pools follow at once."""
        for pool in self._pools_of(function.function_id):
            pool.function = pool.variant.apply(function)
            self._dispatch(pool)
        self._warm_up(function)

    def sweep(self) -> None:
        """Stop containers idle past their window (down to the minimum); start up to it."""
        now = time.monotonic()
        for key, pool in list(self._pools.items()):
            idle = sorted(
                (c for c in pool.containers.values() if not c.running and not c.stopping),
                key=lambda c: c.last_used_s,
            )
            for container in idle[: idle_surplus(pool)]:
                if pool.retired or now - container.last_used_s >= pool.scaledown_window_s:
                    self._stop_container(pool, container)
            # A variant's pool with nothing to keep comes back with its next call.
            variant_done = pool.key != pool.function.function_id and pool.option_min == 0
            if pool.is_empty and (pool.retired or variant_done):
                del self._pools[key]
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
            for timer in pool.delayed.values():
                timer.cancel()  # those calls stay pending in the store and run again
            for container in list(pool.containers.values()):
                self._stop_container(pool, container)
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        await self._backend.close()
