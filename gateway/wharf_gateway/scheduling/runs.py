"""Running inputs on containers, and settling how each run ended: an output (or a retry after
the function raised), a timeout, or a container lost under it."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from wharf.error_codes import ErrorCode
from wharf_runner import AgentConnection, AgentUnreachable, Input, Output, OutputStatus, RunnerError

from wharf_gateway.ids import new_id
from wharf_gateway.models import CallStatus
from wharf_gateway.scheduling.containers import STOP_GRACE_S, ContainerManager
from wharf_gateway.scheduling.pools import Container, Pool
from wharf_gateway.scheduling.tasks import Failure, Task, should_retry_after_container_loss

logger = logging.getLogger(__name__)

#: Seconds a container's agent gets to answer a cancel before the container is drained.
INTERRUPT_TIMEOUT_S = 1.0


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


class Runs:
    """Sends batches of inputs to containers and reports each input's end to its task's sink."""

    def __init__(
        self,
        containers: ContainerManager,
        max_body_bytes: int,
        dispatch: Callable[[Pool], None],
        is_closing: Callable[[], bool],
    ) -> None:
        self._containers = containers
        self._max_body_bytes = max_body_bytes
        #: Places what waits in a pool: called when a run frees a slot or queues inputs again.
        self._dispatch = dispatch
        self._is_closing = is_closing

    def start(self, pool: Pool, container: Container, batch: list[Task]) -> None:
        """Run `batch` on `container` (which has counted the slot it takes) in the background."""
        self._containers.spawn(self._run(pool, container, batch))

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
                self._containers.stop(pool, container, grace_s=grace_s)
        self._retire_if_drained(pool, container)
        self._dispatch(pool)

    def interrupt(self, pool: Pool, container: Container, task: Task) -> None:
        """Stop one cancelled input and leave the container's other inputs alone: the agent
        cancels an async input where it stands. A container whose input runs sync code (or
        whose agent does not answer in time) is drained instead: it takes nothing new and is
        stopped once nothing but cancelled inputs run in it. No other input is run again."""
        if task.input_id is not None:
            self._containers.spawn(self._interrupt(pool, container, task.input_id))

    async def _interrupt(self, pool: Pool, container: Container, input_id: str) -> None:
        connection = self._connection(container)
        try:
            async with asyncio.timeout(INTERRUPT_TIMEOUT_S):
                stopped = await connection.cancel_input(input_id)
        except (AgentUnreachable, TimeoutError):
            stopped = False
            connection.close()
        else:
            if container.stopping:
                connection.close()
            else:
                container.idle_connections.append(connection)
        if not stopped:
            container.draining = True
            self._retire_if_drained(pool, container)
            self._dispatch(pool)  # what waited for its slots goes elsewhere

    def _retire_if_drained(self, pool: Pool, container: Container) -> None:
        if container.draining and not container.stopping and container.runs_only_finished:
            self._containers.stop(pool, container, grace_s=0)  # what it runs is abandoned

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

    @staticmethod
    def finish(task: Task, result: Output | Failure) -> None:
        """Report how a task ended to its sink."""
        task.sink.task_finished(task, result)

    def _outputs_arrived(self, pool: Pool, batch: list[Task], outputs: list[Output]) -> None:
        for task, output in zip(batch, outputs, strict=False):
            if not self._retry_later(pool, task, output):
                self.finish(task, output)
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
        self.finish(
            task,
            Failure(
                CallStatus.FAILURE,
                ErrorCode.FUNCTION_TIMEOUT,
                f"the function ran longer than its timeout of {pool.timeout_s:g} s",
            ),
        )

    def _retry_later(self, pool: Pool, task: Task, output: Output) -> bool:
        """Queue a failed input again after its policy's wait, if it has retries left."""
        policy = pool.function.options.retries
        if output.status is not OutputStatus.FAILURE or task.retries >= policy.max_retries:
            return False
        if task.finished:
            return False  # cancelled: the failure is the interrupt's, and nobody waits
        if task.stream is not None and task.stream.sequence:
            return False  # its caller has values already: running it again would repeat them
        task.retries += 1
        delay_s = policy.delay_s(task.retries)
        logger.info("retrying call %s in %g s (retry %d)", task.call_id, delay_s, task.retries)

        def requeue() -> None:
            # The pool is kept while tasks wait in it (a stop ends them and cancels this).
            pool.delayed.pop(task, None)
            if not task.finished and not self._is_closing():
                pool.queue.append(task)
                self._dispatch(pool)

        pool.delayed[task] = asyncio.get_running_loop().call_later(delay_s, requeue)
        return True

    def _lost_inputs(self, pool: Pool, batch: list[Task], exc: RunnerError) -> None:
        if len(batch) > 1:
            self._rerun_alone(pool, batch)
            return
        self._lost_input(pool, batch[0], exc)

    def _rerun_alone(self, pool: Pool, batch: list[Task]) -> None:
        """A batch's container died or hung, and which input was to blame is not known: each
        runs again on its own, uncharged, so only the culprit is charged the next time."""
        if self._is_closing():
            return
        for task in batch:
            task.alone = True
        pool.queue.extendleft(reversed([task for task in batch if not task.finished]))

    def _lost_input(self, pool: Pool, task: Task, exc: RunnerError) -> None:
        if task.finished or self._is_closing():
            return  # when closing, the call stays running in the store and is recovered
        streamed = task.stream is not None and task.stream.sequence > 0
        if not streamed and should_retry_after_container_loss(task):
            logger.warning("retrying call %s: %s", task.call_id, exc)
            task.container_id = None
            pool.queue.appendleft(task)
            return
        self.finish(
            task,
            Failure(
                CallStatus.TERMINATED,
                ErrorCode.CALL_TERMINATED,
                f"the call's container stopped unexpectedly on each of {task.losses} attempts"
                + (f" ({pool.exit_reason})" if pool.exit_reason else ""),
            ),
        )
