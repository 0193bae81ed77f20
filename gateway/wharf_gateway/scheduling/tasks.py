"""What the scheduler runs: one call's input, and how a run can end without an output.

Outcomes flow one way: whoever makes a task names its `sink` (the call service, or a map), and
the scheduler reports there how the task ended. The scheduler never calls back into whoever
submitted work in any other way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from wharf.error_codes import ErrorCode
from wharf_runner import Input, Output, PayloadFormat

from wharf_gateway.models import CallStatus, FunctionRecord
from wharf_gateway.scheduling.variants import Variant

#: How often an input is run again after its container died under it ("retried once").
MAX_CONTAINER_RETRIES = 1


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
    #: Where its outcome goes: the call service, or its map.
    sink: TaskSink = field(kw_only=True)
    container_id: str | None = None
    #: The input last sent for it (what a cancel asks its container to stop).
    input_id: str | None = None
    #: The function's timeout ended it (and stopped its container).
    timed_out: bool = False
    variant: Variant = field(default_factory=Variant)
    #: Where a generator call's values go as they are yielded.
    stream: ValueStream | None = None
    #: Runs in no batch: its batch was lost, and which input was to blame is not known.
    alone: bool = False
    #: Its place in its map.
    index: int = 0
    #: Retries after the function raised, and inputs lost with their container, so far.
    retries: int = 0
    losses: int = 0
    #: The payload is this blob (and `payload` is empty): the container fetches it.
    payload_blob: str | None = None

    @property
    def runs_alone(self) -> bool:
        """Sent in no batch: a generator's input, or one whose batch was lost."""
        return self.stream is not None or self.alone

    @property
    def pool_key(self) -> str:
        return self.function.function_id + self.variant.pool_suffix

    @property
    def target_name(self) -> str:
        """What the container runs: the function, or `Class.method`."""
        method = self.variant.method
        return self.function.name if method is None else f"{self.function.name}.{method}"

    def next_input(self, input_id: str) -> Input:
        self.attempt += 1
        self.input_id = input_id
        return Input(
            input_id=input_id,
            call_id=self.call_id,
            function_name=self.target_name,
            payload_format=self.payload_format,
            payload=self.payload,
            wants_json=self.wants_json,
            wants_pickle=self.wants_pickle,
            payload_blob=self.payload_blob,
        )


@dataclass(frozen=True, slots=True)
class Failure:
    """A run that ended without an output from the function."""

    status: CallStatus
    #: The error code callers see (`call_terminated`, `startup_failed`, `function_timeout`).
    code: ErrorCode
    message: str


class ValueStream(Protocol):
    """Where a generator call's values go as the container yields them (`calls.streams`)."""

    #: Values put so far: once there are any, the call is not run again.
    sequence: int

    async def put(self, output: Output) -> None: ...

    def end(self) -> None: ...


class TaskSink(Protocol):
    """Where the scheduler reports how a task ended (the call service, or a map).

    That a task runs is known in memory only: the store holds a call as pending until its
    outcome, and a call still pending after a crash simply runs again.
    """

    def task_finished(self, task: Task, result: Output | Failure) -> None: ...


def should_retry_after_container_loss(task: Task) -> bool:
    """A container that died mid-input gets its input run again, once (whatever retries
    after the function's own exceptions came before)."""
    task.losses += 1
    return not task.finished and task.losses <= MAX_CONTAINER_RETRIES
