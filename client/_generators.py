"""`Function.remote_gen`: a generator function's values, handed out as it yields them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from client._frames import split_parts, unpack_frame
from client._http import PICKLE_CONTENT_TYPE, ApiRequest
from client._invocation import call_id_of, call_request, result_flow
from client._serialization import deserialize
from client._streaming import Closer, Emit, Protocol, drive, drive_async

GENERATOR_HEADER = "wharf-generator"
#: Longest wait of one read for values.
READ_WAIT_S = 15.0


@dataclass(slots=True)
class _CallState:
    call_id: str | None = None
    done: bool = False


def _protocol(
    app_ref: str,
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    variant: dict[str, str],
    state: _CallState,
) -> Protocol:
    headers = {**variant, GENERATOR_HEADER: "1"}
    response = yield call_request(app_ref, name, args, kwargs, wait=False, variant=headers)
    state.call_id = call_id_of(response)
    path = f"/v1/calls/{quote(state.call_id, safe='')}/values"
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
    state.done = True
    # The generator's end: nothing, or its exception raised here.
    yield from result_flow(state.call_id, None)


def _closer(state: _CallState) -> Closer:
    def close() -> ApiRequest | None:
        if state.call_id is None or state.done:
            return None
        return ApiRequest("DELETE", f"/v1/calls/{quote(state.call_id, safe='')}")

    return close


class GeneratorCall:
    """`f.remote_gen(*args, **kwargs)` with its `.aio` twin (`async for x in ...aio(...)`)."""

    def __init__(self, app_ref: str, name: str, variant: dict[str, str]) -> None:
        self._app_ref = app_ref
        self._name = name
        self._variant = variant

    def __call__(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        state = _CallState()
        return drive(
            _protocol(self._app_ref, self._name, args, kwargs, self._variant, state), _closer(state)
        )

    def aio(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        state = _CallState()
        protocol = _protocol(self._app_ref, self._name, args, kwargs, self._variant, state)
        return drive_async(protocol, _closer(state))
