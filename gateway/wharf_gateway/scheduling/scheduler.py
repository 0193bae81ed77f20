"""The scheduler: places inputs and web leases on containers of their function's pool, and
decides how many containers each pool has (the autoscaling rule itself is in `pools`).

One process owns its pools; a second gateway would need a shared queue (see docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from wharf.error_codes import ErrorCode
from wharf_runner import AdoptedContainer, ContainerAddress, ContainerBackend, ContainerEvents

from wharf_gateway.errors import BacklogFull, InvalidRequest, NoCapacity, TooManyPools
from wharf_gateway.ids import new_id
from wharf_gateway.models import CallStatus, FunctionRecord
from wharf_gateway.scheduling.containers import STOP_GRACE_S, ContainerManager, ContainerSetup
from wharf_gateway.scheduling.gpus import GpuAllocator, GpuRequest
from wharf_gateway.scheduling.leases import WebLease
from wharf_gateway.scheduling.pools import (
    Container,
    Pool,
    containers_to_start,
    gpu_requests,
    idle_surplus,
)
from wharf_gateway.scheduling.runs import Runs
from wharf_gateway.scheduling.tasks import Failure, Task
from wharf_gateway.scheduling.variants import Variant, default_variant

logger = logging.getLogger(__name__)

#: Longest wait between two tries at starting a container that keeps failing.
MAX_START_BACKOFF_S = 60.0


@dataclass(frozen=True, slots=True)
class SchedulerLimits:
    """The server's bounds on what the scheduler holds."""

    #: The largest request body; a batch's payloads stay within a quarter of it.
    max_body_bytes: int
    #: Containers of all pools together, running or starting.
    max_total_containers: int
    #: Inputs of one function that may wait (maps' inputs not counted).
    max_backlog: int = 1_000_000
    #: Pools of one function's class parameter sets and option variants at once.
    max_variant_pools: int = 100


def _more_for_batch(pool: Pool, budget_bytes: int) -> list[Task]:
    """More waiting inputs to send with the first, for a function fast enough that one
    request per input would cost more than the inputs themselves (`Pool.batch_size`)."""
    more: list[Task] = []
    while len(more) + 1 < pool.batch_size and pool.queue:
        task = pool.queue[0]
        if isinstance(task, WebLease) or task.runs_alone:
            break
        budget_bytes -= len(task.payload)
        if budget_bytes < 0:
            break  # the batch's payloads stay well within what the agent reads
        pool.queue.popleft()
        if not task.finished:
            more.append(task)
    return more


def _end(item: Task | WebLease, failure: Failure) -> None:
    """End a queued input or lease that will not run."""
    if isinstance(item, WebLease):
        item.fail(failure)
    else:
        Runs.finish(item, failure)


class Scheduler:
    """Places tasks and leases on containers of their function's pool and scales the pools."""

    def __init__(
        self,
        backend_factory: Callable[[ContainerEvents], ContainerBackend],
        setup: ContainerSetup,
        limits: SchedulerLimits,
        gpus: GpuAllocator | None = None,
    ) -> None:
        self._limits = limits
        self._containers = ContainerManager(
            backend_factory, setup, gpus or GpuAllocator([]), limits.max_body_bytes, self
        )
        self._runs = Runs(
            self._containers, limits.max_body_bytes, self._dispatch, lambda: self._closing
        )
        self._not_backlog: Callable[[str], int] = lambda function_id: 0
        self._parked: Callable[[str], int] = lambda function_id: 0
        #: Function versions replaced or stopped (a few ids a deploy).
        self._retired: set[str] = set()
        self._pools: dict[str, Pool] = {}
        self._closing = False

    @property
    def backend(self) -> ContainerBackend:
        """Where containers run (and images are built)."""
        return self._containers.backend

    def _pool(self, function: FunctionRecord, variant: Variant | None = None) -> Pool:
        variant = variant or Variant()
        key = function.function_id + variant.pool_suffix
        pool = self._pools.get(key)
        if pool is None:
            pool = self._pools[key] = Pool(key, variant.apply(function), variant)
            pool.retired = function.function_id in self._retired
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
        if requests and not self._containers.gpus.feasible(requests):
            asked = " or ".join(str(request) for request in requests)
            raise NoCapacity(
                f"{function.name} asks for {asked} GPU(s), and no runner has that "
                f"(this server has {self._containers.gpus.describe()})"
            )
        pools = self._pools_of(function.function_id)
        waiting = (
            sum(pool.backlog for pool in pools)
            + self._parked(function.function_id)
            - self._not_backlog(function.function_id)
        )
        if backlog and waiting >= self._limits.max_backlog:
            raise BacklogFull(function.name, self._limits.max_backlog)
        key = function.function_id + (variant or Variant()).pool_suffix
        variants = sum(1 for pool in pools if pool.key != function.function_id)
        if key not in self._pools and key != function.function_id:
            # Each class parameter set (from anyone who can reach a public endpoint) would
            # start containers of its own: a bound, until idle ones scale to zero.
            if variants >= self._limits.max_variant_pools:
                raise TooManyPools(function.name, self._limits.max_variant_pools)

    def exclude_from_backlog(self, count: Callable[[str], int]) -> None:
        """Tell the backlog limit which of a function's waiting inputs not to count (maps',
        bounded by their own windows): `count(function_id)`, an upper bound."""
        self._not_backlog = count

    def count_parked(self, count: Callable[[str], int]) -> None:
        """Tell the backlog limit (and the stats) how many of a function's inputs wait in the
        store rather than in its pools' queues: `count(function_id)`."""
        self._parked = count

    def queued(self, function: FunctionRecord, variant: Variant) -> int:
        """Inputs waiting in the queue of one pool (in memory)."""
        pool = self._pools.get(function.function_id + variant.pool_suffix)
        return 0 if pool is None else len(pool.queue)

    def abandon_finished(self, function: FunctionRecord, variant: Variant) -> None:
        """Let go of tasks marked finished without an outcome (a closed map's): those waiting
        leave the queue now rather than when their turn comes, and a container running nothing
        but such inputs is stopped, so nothing runs for nobody."""
        pool = self._pools.get(function.function_id + variant.pool_suffix)
        if pool is None:
            return
        pool.queue = deque(task for task in pool.queue if not task.finished)
        for container in list(pool.containers.values()):
            if container.running and not container.stopping and container.runs_only_finished:
                self._containers.stop(pool, container, grace_s=0)

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
            item = pool.queue.popleft()
            if item.finished:
                continue
            container.busy += 1
            if isinstance(item, WebLease):
                self._assign_lease(pool, container, item)
                continue
            budget = self._limits.max_body_bytes // 4 - len(item.payload)
            batch = [item] if item.runs_alone else [item, *_more_for_batch(pool, budget)]
            for task in batch:
                task.container_id = container.container_id
                container.running[task.call_id] = task
            self._runs.start(pool, container, batch)
        self._scale_up(pool)

    def _scale_up(self, pool: Pool) -> None:
        """Start the containers the pool wants, within the server's total and its GPUs."""
        wanted = containers_to_start(pool)
        if wanted and time.monotonic() >= pool.next_start_s:
            free = self._limits.max_total_containers - self._total_containers()
            if free < wanted:
                self._evict_idle(wanted - free, keep=pool)
                free = self._limits.max_total_containers - self._total_containers()
            requests = gpu_requests(pool.function)
            for _ in range(min(wanted, free)):
                gpus = self._containers.gpus.allocate(requests) if requests else []
                if gpus is None:
                    # Every fitting GPU is taken: idle containers of other functions give theirs
                    # back; meanwhile the inputs wait.
                    self._evict_gpu_holders(requests, keep=pool)
                    break
                self._containers.start(pool, gpus)

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
                self._containers.stop(pool, container)
                count -= 1

    def _evict_gpu_holders(self, requests: list[GpuRequest], keep: Pool) -> None:
        """Stop one idle container of another pool (above its minimum) holding a fitting GPU."""
        for pool in self._pools.values():
            if pool is keep or idle_surplus(pool) == 0:
                continue
            for container in list(pool.containers.values()):
                held = self._containers.gpus_of(container.container_id)
                fits = any(request.matches(gpu) for request in requests for gpu in held)
                if fits and not container.running and not container.stopping:
                    self._containers.stop(pool, container)
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

    def _assign_lease(self, pool: Pool, container: Container, lease: WebLease) -> None:
        """Give a waiting web request its container, and arm the function's timeout."""
        lease.container_id = container.container_id
        container.running[lease.lease_id] = lease
        lease.timer = asyncio.get_running_loop().call_later(
            pool.timeout_s, self._lease_timed_out, lease
        )
        if not lease.container.done():
            lease.container.set_result(container.address)

    def _lease_timed_out(self, lease: WebLease) -> None:
        lease.timed_out = True
        logger.warning("a web request to %s ran past its timeout", lease.function.name)
        self.release(lease, healthy=False)

    async def lease(
        self, function: FunctionRecord, variant: Variant | None = None
    ) -> tuple[WebLease, ContainerAddress]:
        """Hold a slot of a container of `function` for one web request; give it back with
        `release`.

        Raises:
            BacklogFull, NoCapacity, TooManyPools: as `admit`.
            WebUnavailable: no container could be started for it.
        """
        self.admit(function, variant)
        lease = WebLease(new_id("wr"), function, variant or Variant())
        pool = self._pool(function, lease.variant)
        pool.queue.append(lease)
        self._dispatch(pool)
        try:
            return lease, await lease.container
        except asyncio.CancelledError:
            self.release(lease, healthy=True)
            raise

    def release(self, lease: WebLease, *, healthy: bool) -> None:
        """A web request is done with its container (or no longer wants one)."""
        if lease.finished:
            return
        lease.finished = True
        if lease.timer is not None:
            lease.timer.cancel()
        pool = self._containers.pool_of(lease.container_id or "")
        if pool is None:
            return  # still queued (the dispatcher skips it), or its container is gone
        container = pool.containers.get(lease.container_id or "")
        if container is not None and container.running.pop(lease.lease_id, None) is not None:
            container.busy -= 1
            container.last_used_s = time.monotonic()
            if not healthy:
                # A request past its timeout is stuck: kill at once, so no late answer slips out.
                grace_s = 0 if lease.timed_out else STOP_GRACE_S
                self._containers.stop(pool, container, grace_s=grace_s)
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
            item = pool.queue.popleft()
            if not item.finished:
                _end(item, Failure(CallStatus.FAILURE, ErrorCode.STARTUP_FAILED, reason))

    def cancel(self, task: Task) -> None:
        """Drop a task the caller has finished (cancelled): out of its queue if it waits; if
        it runs, only its input is stopped (`Runs.interrupt`), never the others beside it."""
        pool = self._pools.get(task.pool_key)
        if pool is None:
            return
        if task in pool.queue:
            pool.queue.remove(task)
            return
        container = pool.containers.get(task.container_id or "")
        if container is not None and task.call_id in container.running:
            self._runs.interrupt(pool, container, task)

    def adopt(
        self, containers: list[AdoptedContainer], current: dict[str, FunctionRecord]
    ) -> set[str]:
        """Take on containers an earlier run left, for functions still current (the others
        are stopped); returns the tokens of the containers taken on."""
        return self._containers.adopt(containers, current, self._pool)

    def prepare(self, functions: list[FunctionRecord]) -> None:
        """Create the pools of a function version that just became current, so each starts its
        `min_containers` without waiting for a first call."""
        for function in functions:
            self._warm_up(function)

    def _warm_up(self, function: FunctionRecord) -> None:
        """Start a function's `min_containers` (for a class: those of its default parameters,
        when it has defaults for all of them)."""
        if function.options.min_containers == 0:
            return
        try:
            variant = default_variant(function)
        except InvalidRequest:
            return  # a class that needs parameters: its pools start with their calls
        self._dispatch(self._pool(function, variant))

    def retire(self, function_ids: set[str]) -> None:
        """These functions were replaced or stopped: drain their queues, then scale to zero."""
        self._retired |= function_ids  # a pool made later (its calls paged in) is retired too
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
            items = [
                *pool.queue,
                *pool.delayed,
                *(item for c in pool.containers.values() for item in c.running.values()),
            ]
            pool.queue.clear()
            for timer in pool.delayed.values():
                timer.cancel()
            pool.delayed.clear()
            for item in items:
                if not item.finished:
                    _end(item, Failure(CallStatus.TERMINATED, ErrorCode.CALL_TERMINATED, reason))
            for container in list(pool.containers.values()):
                self._containers.stop(pool, container, grace_s=0)

    def stats(self, function_id: str) -> dict[str, int]:
        """A function's backlog, containers, running inputs and headroom right now, over all
        its pools (`FunctionStats`)."""
        pools = self._pools_of(function_id)
        return {
            "backlog": sum(p.backlog for p in pools) + self._parked(function_id),
            "num_active_runners": sum(1 for p in pools for c in p.containers.values() if c.running),
            "num_total_runners": sum(len(p.containers) + p.starting for p in pools),
            "num_running_inputs": sum(p.running_inputs for p in pools),
            "headroom": sum(p.headroom for p in pools),
        }

    def is_running(self, task: Task) -> bool:
        """Whether the task is in a container now (rather than waiting in its pool)."""
        pool = self._containers.pool_of(task.container_id or "")
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
                    self._containers.stop(pool, container)
            # A variant's pool with nothing to keep comes back with its next call.
            variant_done = pool.key != pool.function.function_id and pool.option_min == 0
            if pool.is_empty and (pool.retired or variant_done):
                del self._pools[key]
            else:
                self._dispatch(pool)

    # PoolEvents, reported by the container manager.

    def container_ready(self, pool: Pool) -> None:
        self._dispatch(pool)

    def capacity_freed(self, pool: Pool | None) -> None:
        if pool is not None:
            self._dispatch(pool)
        self._dispatch_waiting()

    def start_failed(self, pool: Pool, reason: str) -> None:
        self._startup_failed(pool, reason)

    def is_current(self, pool: Pool) -> bool:
        return self._pools.get(pool.key) is pool

    async def close(self) -> None:
        """Stop every container; calls still running are recovered at the next start."""
        self._closing = True
        self._containers.stop_starting()
        for pool in self._pools.values():
            pool.retired = True
            for timer in pool.delayed.values():
                timer.cancel()  # those calls stay pending in the store and run again
            for container in list(pool.containers.values()):
                self._containers.stop(pool, container)
        await self._containers.wait_idle()
        await self._containers.backend.close()
