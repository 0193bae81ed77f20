"""Handles on deployed functions and on their calls."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import quote

from wharf._aio import Twin, blocking
from wharf._errors import ExecutionError
from wharf._generators import GeneratorCall
from wharf._http import ApiRequest, Flow, run_flow_async
from wharf._image import Image
from wharf._invocation import (
    call_id_of,
    function_path,
    remote_flow,
    result_flow,
    send_call,
)
from wharf._map import Mapper, spawn_calls
from wharf._object import Deployable
from wharf._options import FunctionOptions
from wharf._secret import Secret
from wharf._variants import (
    OPTIONS_HEADER,
    PARAMETERS_HEADER,
    option_overrides,
    options_header,
    parameters_header,
)
from wharf.web_config import WebConfig


@dataclass(frozen=True, slots=True)
class FunctionStats:
    """A function's queue and containers at the moment asked (all its pools together)."""

    #: Inputs waiting for a container.
    backlog: int
    #: Containers running at least one input.
    num_active_runners: int
    #: Containers running or starting.
    num_total_runners: int
    #: Inputs running now.
    num_running_inputs: int = 0
    #: More inputs the running containers could take at once.
    headroom: int = 0


@dataclass(frozen=True, slots=True)
class InputInfo:
    """One call in a call graph, with the calls made from it."""

    function_call_id: str
    function_name: str
    #: pending, success, failure, cancelled or terminated.
    status: str
    children: list[InputInfo]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InputInfo:
        return cls(
            str(data["call_id"]),
            str(data["function_name"]),
            str(data["status"]),
            [cls.from_json(child) for child in data.get("children", [])],
        )


class FunctionCall:
    """A call started with `Function.spawn`: poll it, wait for it or cancel it, from any process."""

    def __init__(self, call_id: str) -> None:
        self._call_id = call_id

    def __repr__(self) -> str:
        return f"FunctionCall({self._call_id!r})"

    @property
    def object_id(self) -> str:
        """The call's id (`fc-...`), which `FunctionCall.from_id` accepts anywhere."""
        return self._call_id

    @classmethod
    def from_id(cls, function_call_id: str) -> FunctionCall:
        """A handle on an existing call by its id (no request is made until it is used)."""
        return cls(function_call_id)

    @blocking
    def get(self, timeout: float | None = None) -> Flow[Any]:
        """Wait for the call's result.

        Args:
            timeout: Seconds to wait; None waits as long as it takes, 0 only looks.

        Returns:
            The function's return value.

        Raises:
            TimeoutError: the call has not finished within `timeout`.
            OutputExpiredError: the result was kept and has since expired.
            InputCancellation: the call was cancelled.
            BaseException: the function's own exception, with the remote traceback as a note.
        """
        return (yield from result_flow(self._call_id, timeout))

    @blocking
    def cancel(self) -> Flow[None]:
        """Cancel the call; a running input is stopped and the call ends as cancelled."""
        yield ApiRequest("DELETE", f"/v1/calls/{quote(self._call_id, safe='')}")

    @blocking
    def get_call_graph(self) -> Flow[list[InputInfo]]:
        """The tree of calls made from this call (functions calling functions, at any depth),
        as a list holding its root."""
        response = yield ApiRequest("GET", f"/v1/calls/{quote(self._call_id, safe='')}/graph")
        return [InputInfo.from_json(response.json())]


class _Gather:
    """`gather(*calls)`: wait for several calls; results in order, or the first failure raised.

    The blocking form waits for the calls in order; `gather.aio` waits for all at once and
    raises the first failure to happen.
    """

    def __call__(self, *function_calls: FunctionCall) -> list[Any]:
        return [call.get() for call in function_calls]

    async def aio(self, *function_calls: FunctionCall) -> list[Any]:
        flows = (run_flow_async(result_flow(call.object_id, None)) for call in function_calls)
        return list(await asyncio.gather(*flows))


gather = _Gather()


class Function(Deployable):
    """A function of a Wharf app: call it remotely, spawn it, or run it here with `.local()`."""

    def __init__(
        self,
        name: str,
        *,
        raw_f: Callable[..., Any] | None = None,
        options: FunctionOptions | None = None,
        app_ref: str | None = None,
        app_name: str | None = None,
        web: WebConfig | None = None,
        image: Image | None = None,
        secrets: Sequence[Secret] = (),
    ) -> None:
        super().__init__(
            name,
            options=options,
            app_ref=app_ref,
            app_name=app_name,
            image=image,
            secrets=secrets,
        )
        self._raw_f = raw_f
        self._web = web
        #: A class method's `(format, bytes)` parameters.
        self._parameters: tuple[str, bytes] | None = None

    def _variant_headers(self) -> dict[str, str]:
        headers = {}
        if self._parameters is not None:
            headers[PARAMETERS_HEADER] = parameters_header(self._parameters)
        if self._overrides:
            headers[OPTIONS_HEADER] = options_header(self._overrides)
        return headers

    def with_options(self, **options: Any) -> Function:
        """A handle on the same function whose calls run in a pool of their own, with these
        options over the deployed ones: `gpu`, `cpu`, `memory`, `timeout`, `retries`,
        `min_containers`, `max_containers`, `buffer_containers`, `scaledown_window` (and
        their older names).

        Raises:
            InvalidError: an unknown option or a value out of range.
        """
        other = Function(
            self._name,
            raw_f=self._raw_f,
            options=self._options,
            app_ref=self._app_ref,
            app_name=self._app_name,
            web=self._web,
            image=self._image,
        )
        other._parameters = self._parameters
        other._overrides = {**self._overrides, **option_overrides(**options)}
        return other

    @blocking
    def update_autoscaler(
        self,
        *,
        min_containers: int | None = None,
        max_containers: int | None = None,
        buffer_containers: int | None = None,
        scaledown_window: float | None = None,
    ) -> Flow[None]:
        """Change the deployed function's autoscaling until its app is deployed again.

        Raises:
            InvalidError: a value out of range (also checked by the gateway).
        """
        overrides = option_overrides(
            min_containers=min_containers,
            max_containers=max_containers,
            buffer_containers=buffer_containers,
            scaledown_window=scaledown_window,
        )
        yield ApiRequest(
            "PATCH", f"{function_path(self._ref, self._name)}/autoscaler", json=overrides
        )

    #: Look up a deployed function now (`NotFoundError` if missing); also `.aio`.
    lookup: ClassVar[Twin[[str, str], Function]]

    @property
    def web(self) -> WebConfig | None:
        """How the function is served over HTTP, for functions defined here."""
        return self._web

    @property
    def web_url(self) -> str | None:
        """The URL of a web endpoint function (None for other functions); looks it up."""
        url = self._definition().get("web_url")
        return None if url is None else str(url)

    def get_web_url(self) -> str | None:
        """The URL of a web endpoint function (None for other functions)."""
        return self.web_url

    @blocking
    def hydrate(self) -> Flow[Function]:
        """Fetch the function's definition from the gateway (done lazily by everything else)."""
        response = yield ApiRequest("GET", function_path(self._ref, self._name))
        self._info = response.json()
        return self

    @property
    def _ref(self) -> str:
        if self._app_ref is None:
            raise ExecutionError(
                f"function {self._name!r} is not deployed in a running app: deploy its file with "
                "`wharf deploy` and use Function.from_name, or call it under `wharf run`"
            )
        return self._app_ref

    def _definition(self) -> dict[str, Any]:
        if self._info is None:
            self.hydrate()
        return self._info or {}

    @property
    def object_id(self) -> str:
        """The deployed function's id (`fu-...`); looks the function up when needed."""
        return str(self._definition()["function_id"])

    @property
    def is_generator(self) -> bool:
        """Whether the function is a generator (called with `remote_gen`)."""
        return bool(self._definition()["is_generator"])

    @blocking
    def remote(self, *args: Any, **kwargs: Any) -> Flow[Any]:
        """Call the function in its container and wait for the result.

        Returns:
            The function's return value.

        Raises:
            NotFoundError: the app or function does not exist.
            BaseException: the function's own exception, with the remote traceback as a note.
        """
        return (
            yield from remote_flow(self._ref, self._name, args, kwargs, self._variant_headers())
        )

    @property
    def remote_gen(self) -> GeneratorCall:
        """`for value in f.remote_gen(*args, **kwargs)`: call a generator function and get
        its values as it yields them (`async for` with `.remote_gen.aio(...)`). Leaving the
        loop early cancels the call."""
        return GeneratorCall(self._ref, self._name, self._variant_headers())

    @property
    def map(self) -> Mapper:
        """`f.map(*iterables, kwargs={}, order_outputs=True, return_exceptions=False)`: one
        output per input, as they finish (in input order by default). Inputs are read from the
        iterators as room frees up, so an endless generator works; leaving the loop early
        ends the map. `async for x in f.map.aio(...)` on an event loop."""
        return Mapper(function_path(self._ref, self._name), self._variant_headers(), "map")

    @property
    def starmap(self) -> Mapper:
        """`f.starmap(iterable_of_arg_tuples, kwargs={}, ...)`: `map` with each input's
        positional arguments given as one tuple."""
        return Mapper(function_path(self._ref, self._name), self._variant_headers(), "starmap")

    @property
    def for_each(self) -> Mapper:
        """`f.for_each(*iterables, kwargs={}, ignore_exceptions=False)`: run every input,
        keep no outputs; raises the first failure unless `ignore_exceptions`."""
        return Mapper(function_path(self._ref, self._name), self._variant_headers(), "for_each")

    @blocking
    def spawn_map(
        self, *iterables: Any, kwargs: dict[str, Any] | None = None
    ) -> Flow[list[FunctionCall]]:
        """Start a call for each input without waiting for any (a thousand to a request);
        returns their handles."""
        inputs = ((args, kwargs or {}) for args in zip(*iterables, strict=False))
        path = function_path(self._ref, self._name)
        call_ids = yield from spawn_calls(path, self._variant_headers(), inputs)
        return [FunctionCall(call_id) for call_id in call_ids]

    @blocking
    def spawn(self, *args: Any, **kwargs: Any) -> Flow[FunctionCall]:
        """Start a call without waiting for it.

        Returns:
            A `FunctionCall` to poll, wait for or cancel later, here or in another process.
        """
        response = yield from send_call(
            self._ref, self._name, args, kwargs, wait=False, variant=self._variant_headers()
        )
        return FunctionCall(call_id_of(response))

    def local(self, *args: Any, **kwargs: Any) -> Any:
        """Run the function in this process, as plain Python.

        Raises:
            ExecutionError: this handle came from `from_name` and has no code here.
        """
        if self._raw_f is None:
            raise ExecutionError(f"function {self._name!r} has no local code to run")
        result = self._raw_f(*args, **kwargs)
        # `inspect`, not `asyncio`: on Python 3.11 asyncio takes a generator for a coroutine, and
        # a generator function's `.local()` returns its generator, as the reference does.
        if inspect.iscoroutine(result):
            return asyncio.run(result)
        return result

    def get_raw_f(self) -> Callable[..., Any]:
        """The Python function this wraps."""
        if self._raw_f is None:
            raise ExecutionError(f"function {self._name!r} has no local code")
        return self._raw_f

    @blocking
    def get_current_stats(self) -> Flow[FunctionStats]:
        """The function's backlog and containers right now."""
        response = yield ApiRequest("GET", f"{function_path(self._ref, self._name)}/stats")
        data = response.json()
        return FunctionStats(
            backlog=int(data["backlog"]),
            num_active_runners=int(data["num_active_runners"]),
            num_total_runners=int(data["num_total_runners"]),
            num_running_inputs=int(data["num_running_inputs"]),
            headroom=int(data["headroom"]),
        )


def _lookup(app_name: str, name: str) -> Flow[Function]:
    """Look up a deployed function now.

    Raises:
        NotFoundError: there is no such app or function.
    """
    function = Function.from_name(app_name, name)
    response = yield ApiRequest("GET", function_path(app_name, name))
    function._info = response.json()
    return function


#: `Function.lookup(app_name, name)`: the eager form of `from_name` (with `.aio`).
Function.lookup = Twin(_lookup)
