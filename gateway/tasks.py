"""What the scheduler runs: one call's input, and how a run can end without an output."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from gateway.models import CallStatus, FunctionRecord
from runner import ContainerAddress, Input, Output, PayloadFormat

if TYPE_CHECKING:
    from gateway.scheduler import Container, Pool

#: How often an input is run again after its container died under it ("retried once").
MAX_CONTAINER_RETRIES = 1


class WebUnavailable(Exception):
    """No container could take a web request (its start failed, or its app was stopped)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


@dataclass(slots=True, eq=False)
class WebSlot:
    """A web request's hold on a container: the proxy gets the address, then gives it back."""

    container: asyncio.Future[ContainerAddress]
    #: The pool and container holding it, once it has one.
    holder: tuple[Pool, Container] | None = None
    #: Fires when the request outlives the function's timeout.
    timer: asyncio.TimerHandle | None = None
    ended: bool = False

    @classmethod
    def new(cls) -> WebSlot:
        return cls(asyncio.get_running_loop().create_future())


@dataclass(slots=True, eq=False)
class Task:
    """A call on its way through the scheduler; `attempt` counts the inputs sent for it."""

    call_id: str
    workspace_id: str
    function: FunctionRecord
    payload_format: PayloadFormat
    payload: bytes
    wants_json: bool
    wants_pickle: bool
    attempt: int = 0
    #: Set once the call has its final outcome; late outputs of the task are then dropped.
    finished: bool = False
    container_id: str | None = None
    #: Set for a web request, which holds a container instead of sending it an input.
    web: WebSlot | None = None
    #: The function's timeout ended it (and stopped its container).
    timed_out: bool = False

    def next_input(self, input_id: str) -> Input:
        self.attempt += 1
        return Input(
            input_id=input_id,
            call_id=self.call_id,
            function_name=self.function.name,
            payload_format=self.payload_format,
            payload=self.payload,
            wants_json=self.wants_json,
            wants_pickle=self.wants_pickle,
        )


@dataclass(frozen=True, slots=True)
class Failure:
    """A run that ended without an output from the function."""

    status: CallStatus
    #: The error code callers see (`call_terminated`, `startup_failed`, `function_timeout`).
    code: str
    message: str


class TaskSink(Protocol):
    """Where the scheduler reports how tasks end (the call service).

    That a task runs is known in memory only: the store holds a call as pending until its
    outcome, and a call still pending after a crash simply runs again.
    """

    def task_finished(self, task: Task, result: Output | Failure) -> None: ...


def should_retry_after_container_loss(task: Task) -> bool:
    """A container that died mid-input gets its input run again, once."""
    return not task.finished and task.attempt <= MAX_CONTAINER_RETRIES
