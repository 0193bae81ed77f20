"""Pools of containers and the autoscaling rule: how many containers a pool wants right now.

Each function has a pool, and so has each class parameter set and each `with_options` handle
(`Task.pool_key`). A pool's options are its function's, with the variant's overrides and any
`update_autoscaler` settings applied.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from wharf_runner import AgentConnection, ContainerAddress

from wharf_gateway.models import FunctionRecord
from wharf_gateway.scheduling.gpus import GpuRequest, parse_request
from wharf_gateway.scheduling.leases import WebLease
from wharf_gateway.scheduling.tasks import Task
from wharf_gateway.scheduling.variants import Variant

#: Work one batched request to a container should carry, and the most inputs it may hold.
BATCH_S = 0.005
MAX_BATCH = 512
#: The autoscaler plans for the waiting work to be done within this many seconds, counting
#: what passing an input to a container costs besides running it.
SCALE_HORIZON_S = 2.0
INPUT_OVERHEAD_S = 20e-6
#: Containers a pool starts at once before any of its inputs has run.
SLOW_START = 2


@dataclass(slots=True, eq=False)
class Container:
    container_id: str
    address: ContainerAddress
    token_id: str
    max_inputs: int
    agent_secret: str
    idle_connections: list[AgentConnection] = field(default_factory=list)
    #: What holds its slots: inputs by call id, web leases by lease id.
    running: dict[str, Task | WebLease] = field(default_factory=dict)
    #: Connections with an input in flight, closed at once if the container dies.
    busy_connections: dict[str, AgentConnection] = field(default_factory=dict)
    last_used_s: float = field(default_factory=time.monotonic)
    stopping: bool = False
    #: Runs a cancelled input that cannot be interrupted: takes nothing new, and is stopped
    #: once its other inputs are done.
    draining: bool = False
    #: Slots in use: a web request or a batch of inputs (run in turn) holds one.
    busy: int = 0

    @property
    def in_service(self) -> bool:
        """Takes new inputs (when it has room): neither stopping nor draining."""
        return not (self.stopping or self.draining)

    @property
    def has_room(self) -> bool:
        return self.in_service and self.busy < self.max_inputs

    @property
    def runs_only_finished(self) -> bool:
        """Everything it runs has ended for its caller (cancelled): nobody waits on it."""
        return all(item.finished for item in self.running.values())


@dataclass(slots=True, eq=False)
class Pool:
    key: str
    function: FunctionRecord
    variant: Variant = field(default_factory=Variant)
    containers: dict[str, Container] = field(default_factory=dict)
    queue: deque[Task | WebLease] = field(default_factory=deque)
    #: Tasks waiting out a retry's delay, with the timer that queues them again.
    delayed: dict[Task, asyncio.TimerHandle] = field(default_factory=dict)
    starting: int = 0
    #: No longer the function's current version: drains its queue, then scales to zero.
    retired: bool = False
    #: Starts that failed in a row, and when the next may be tried (monotonic seconds).
    failed_starts: int = 0
    next_start_s: float = 0.0
    #: Why a container of the pool last ended, where the backend said (out of memory).
    exit_reason: str | None = None
    #: Seconds an input takes, averaged over recent runs (None until one has run).
    input_s: float | None = None

    def record_duration(self, seconds: float) -> None:
        self.input_s = seconds if self.input_s is None else 0.8 * self.input_s + 0.2 * seconds

    @property
    def batch_size(self) -> int:
        """Inputs to send a container in one request: enough for about `BATCH_S` of work
        when inputs are fast, else one (a slow input must not hold others behind it)."""
        if self.input_s is None:
            return 1
        return max(1, min(MAX_BATCH, int(BATCH_S / max(self.input_s, 1e-6))))

    @property
    def option_min(self) -> int:
        return 0 if self.retired else self.function.options.min_containers

    @property
    def option_max(self) -> int | None:
        return self.function.options.max_containers

    @property
    def max_inputs(self) -> int:
        return max(1, self.function.options.max_inputs)

    @property
    def target_inputs(self) -> int:
        """Inputs per container the autoscaler plans for; the rest absorbs bursts."""
        target = self.function.options.target_inputs
        return self.max_inputs if target is None else max(1, min(target, self.max_inputs))

    @property
    def buffer(self) -> int:
        return 0 if self.retired else self.function.options.buffer_containers

    @property
    def scaledown_window_s(self) -> float:
        return self.function.options.scaledown_window_s

    @property
    def timeout_s(self) -> float:
        return self.function.options.timeout_s

    @property
    def backlog(self) -> int:
        """Inputs waiting: for a container, or out a retry's delay."""
        # Finished tasks (a released web request) leave the queue when their turn comes.
        return len(self.queue) + len(self.delayed)

    @property
    def is_empty(self) -> bool:
        return not (self.queue or self.delayed or self.containers or self.starting)

    @property
    def running_inputs(self) -> int:
        return sum(len(c.running) for c in self.containers.values())

    @property
    def headroom(self) -> int:
        """More inputs the pool's live containers could take right now."""
        return sum(c.max_inputs - c.busy for c in self.containers.values() if c.has_room)

    @property
    def wanted_containers(self) -> int:
        """Containers the pool should have (running or starting) for its work right now:
        enough for every running and waiting input at `target_inputs` each, plus
        `buffer_containers` while busy, at least `min_containers`, at most `max_containers`."""
        work = self.running_inputs + len(self.queue)
        needed = -(-work // self.target_inputs)
        if self.input_s is not None and self.input_s < BATCH_S:
            # Inputs this short go to containers in batches: enough containers to do the
            # waiting work within the horizon, not one per `target_inputs` of them.
            seconds = work * (self.input_s + INPUT_OVERHEAD_S) / self.target_inputs
            needed = min(needed, math.ceil(seconds / SCALE_HORIZON_S))
        wanted = needed + (self.buffer if work else 0)
        wanted = max(wanted, self.option_min)
        if self.option_max is not None:
            wanted = min(wanted, self.option_max)
        return wanted


def resources(function: FunctionRecord) -> dict[str, Any]:
    """What a function asks of its containers, for the backend: CPU, memory, its own server,
    its image."""
    options, web = function.options, function.definition.web
    return {
        "cpu": options.cpu,
        "memory_mb": options.memory_mb,
        "serves_web": web is not None,
        "web_server_port": web.port if web is not None and web.kind == "server" else None,
        "image": function.definition.image_tag,
    }


def gpu_requests(function: FunctionRecord) -> list[GpuRequest]:
    """What the function asks for, in order of preference (checked at deploy)."""
    return [parse_request(gpu) for gpu in function.options.gpu]


def containers_to_start(pool: Pool) -> int:
    """How many containers to start now: what the pool wants, less what it has.

    Until one of its inputs has run, nobody knows whether they take microseconds or minutes,
    so above its minimum and buffer a pool grows by doubling (`SLOW_START`, then as many as
    are up) rather than all at once.
    """
    live = sum(1 for c in pool.containers.values() if c.in_service)
    missing = pool.wanted_containers - live - pool.starting
    if pool.input_s is None:
        floor = pool.option_min + pool.buffer  # kept whatever the work: started at once
        missing = min(missing, max(floor, SLOW_START, live) - pool.starting)
    return max(missing, 0)


def idle_surplus(pool: Pool) -> int:
    """How many idle containers the pool could stop without going under what it wants."""
    return max(len(pool.containers) + pool.starting - pool.wanted_containers, 0)
