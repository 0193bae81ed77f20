"""What the scheduler runs: one call's input, and how a run can end without an output."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl

import orjson
from wharf.error_codes import ErrorCode
from wharf_runner import ContainerAddress, Input, Output, PayloadFormat

from wharf_gateway.calls.streams import ItemStream
from wharf_gateway.manifest.classes import (
    Parameters,
    check_parameters,
    class_shape,
    parameters_from_query,
)
from wharf_gateway.models import CallStatus, FunctionRecord

if TYPE_CHECKING:
    from wharf_gateway.scheduling.pools import Container, Pool

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


@dataclass(frozen=True, slots=True)
class Variant:
    """Which method a call runs and in which pool of its function: a class's parameter set
    and a handle's option overrides (`with_options`) each get pools of their own."""

    method: str | None = None
    parameters: Parameters | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def pool_suffix(self) -> str:
        """Added to the function id to name the pool; empty for the function's own pool."""
        if self.parameters is None and not self.options:
            return ""
        digest = hashlib.sha256()
        if self.parameters is not None:
            digest.update(f"{self.parameters.format}:".encode() + self.parameters.data)
        digest.update(b"|" + orjson.dumps(self.options, option=orjson.OPT_SORT_KEYS))
        return "/" + digest.hexdigest()[:24]

    def apply(self, function: FunctionRecord) -> FunctionRecord:
        """The function as this variant's pool runs it (its options overridden)."""
        if not self.options:
            return function
        options = {**function.options, **self.options}
        return dataclasses.replace(function, definition={**function.definition, "options": options})

    def to_json(self) -> bytes | None:
        if self == Variant():
            return None
        data: dict[str, Any] = {"method": self.method, "options": self.options}
        if self.parameters is not None:
            data["parameters_format"] = self.parameters.format
            data["parameters"] = base64.b64encode(self.parameters.data).decode()
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> Variant:
        if raw is None:
            return cls()
        data = orjson.loads(raw)
        parameters = None
        if "parameters" in data:
            parameters = Parameters(data["parameters_format"], base64.b64decode(data["parameters"]))
        return cls(data.get("method"), parameters, dict(data.get("options") or {}))


def default_variant(function: FunctionRecord) -> Variant:
    """The pool a function's calls use without parameters: for a class, its defaults.

    Raises:
        InvalidRequest: a class with parameters that have no default.
    """
    if class_shape(function) is None:
        return Variant()
    return Variant(parameters=check_parameters(function, "json", b"{}"))


def web_variant(function: FunctionRecord, query_string: bytes) -> Variant:
    """The pool a web request uses: a parameterized class endpoint's parameters come from
    the query string (`?foo=hedgehog&bar=7`).

    Raises:
        InvalidRequest: the parameters are missing, unknown or of the wrong type.
    """
    if class_shape(function) is None:
        return Variant()
    query = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    parameters, _ = parameters_from_query(function, query)
    return Variant(parameters=parameters)


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
    variant: Variant = field(default_factory=Variant)
    #: Where a generator call's values go as they are yielded.
    stream: ItemStream | None = None
    #: Runs in no batch: its batch was lost, and which input was to blame is not known.
    alone: bool = False
    #: Where its outcome goes, when not to the call service (a map's inputs).
    sink: TaskSink | None = None
    #: Its place in its map.
    index: int = 0
    #: Retries after the function raised, and inputs lost with their container, so far.
    retries: int = 0
    losses: int = 0
    #: The payload is this blob (and `payload` is empty): the container fetches it.
    payload_blob: str | None = None

    @property
    def runs_alone(self) -> bool:
        """Sent in no batch: a web request, a generator's input, or one whose batch was lost."""
        return self.web is not None or self.stream is not None or self.alone

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


class TaskSink(Protocol):
    """Where the scheduler reports how tasks end (the call service).

    That a task runs is known in memory only: the store holds a call as pending until its
    outcome, and a call still pending after a crash simply runs again.
    """

    def task_finished(self, task: Task, result: Output | Failure) -> None: ...


def should_retry_after_container_loss(task: Task) -> bool:
    """A container that died mid-input gets its input run again, once (whatever retries
    after the function's own exceptions came before)."""
    task.losses += 1
    return not task.finished and task.losses <= MAX_CONTAINER_RETRIES
