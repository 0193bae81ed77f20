"""`Function.remote_gen`: a generator function's values, handed out as it yields them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

from wharf._http import PICKLE_CONTENT_TYPE, ApiRequest
from wharf._invocation import call_id_of, result_flow, send_call
from wharf._streaming import Closer, Emit, Protocol, Session, drive, drive_async, session_requests
from wharf.frames import split_parts, unpack_frame
from wharf.serialization import deserialize

GENERATOR_HEADER = "wharf-generator"
#: Longest wait of one read for values.
READ_WAIT_S = 15.0


def _protocol(
    app_ref: str,
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    variant: dict[str, str],
    state: Session,
) -> Protocol:
    headers = {**variant, GENERATOR_HEADER: "1"}
    response = yield from send_call(app_ref, name, args, kwargs, wait=False, variant=headers)
    state.id = call_id_of(response)
    path = _values_path(state.id)
    after, ended = 0, False
    while not ended:
        response = yield ApiRequest(
            "GET",
            path,
            params={"after": after, "timeout_s": READ_WAIT_S},
            headers={"accept": PICKLE_CONTENT_TYPE},
            wait_s=READ_WAIT_S,
        )
        head, rest = unpack_frame(response.content)
        heads = head.get("values")
        if not isinstance(heads, list):
            raise ValueError("the gateway's value frame has no value list")
        for item, value in zip(
            heads, split_parts(rest, [int(h["size"]) for h in heads]), strict=True
        ):
            after = int(item["seq"])
            yield Emit(after - 1, deserialize(value))
        ended = bool(head.get("ended"))
        state.idle_timeout(head.get("idle_timeout_s"))
    state.done = True
    # The generator's end: nothing, or its exception raised here.
    yield from result_flow(state.id, None)


def _call_path(call_id: str) -> str:
    return f"/v1/calls/{quote(call_id, safe='')}"


def _values_path(call_id: str) -> str:
    return f"{_call_path(call_id)}/values"


def _requests(state: Session) -> tuple[Closer, Closer]:
    return session_requests(state, _call_path, lambda call_id: f"{_values_path(call_id)}/touch")


class GeneratorCall:
    """`f.remote_gen(*args, **kwargs)` with its `.aio` twin (`async for x in ...aio(...)`)."""

    def __init__(self, app_ref: str, name: str, variant: dict[str, str]) -> None:
        self._app_ref = app_ref
        self._name = name
        self._variant = variant

    def __call__(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        state = Session()
        protocol = _protocol(self._app_ref, self._name, args, kwargs, self._variant, state)
        close, touch = _requests(state)
        return drive(protocol, close, touch=touch, session=state)

    def aio(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        state = Session()
        protocol = _protocol(self._app_ref, self._name, args, kwargs, self._variant, state)
        close, touch = _requests(state)
        return drive_async(protocol, close, touch=touch, session=state)
