"""One call of a deployed function over the public API, as flows: send, then follow to the value."""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from wharf._blobs import with_payload_blob
from wharf._context import current_function_call_id
from wharf._errors import ServerError
from wharf._http import (
    IDEMPOTENCY_HEADER,
    PARENT_CALL_HEADER,
    PICKLE_CONTENT_TYPE,
    ApiRequest,
    Flow,
    error_body,
)
from wharf.serialization import deserialize, rebuild_exception, serialize_arguments

#: Longest single long-poll; the gateway may answer sooner (it caps waits at its request timeout).
POLL_CHUNK_S = 55.0
CALL_ID_HEADER = "wharf-call-id"


def function_path(app_ref: str, function_name: str) -> str:
    return f"/v1/apps/{quote(app_ref, safe='')}/functions/{quote(function_name, safe='')}"


def send_call(
    app_ref: str,
    function_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    wait: bool,
    variant: dict[str, str] | None = None,
) -> Flow[httpx.Response]:
    """POST a call; with `wait=False` the gateway answers 202 at once. `variant` holds the
    headers naming a class's parameters and a handle's option overrides. Arguments over 2 MiB
    go first, as a blob."""
    headers = {
        "content-type": PICKLE_CONTENT_TYPE,
        "accept": PICKLE_CONTENT_TYPE,
        # The same call, should this request be sent again after a dropped connection.
        IDEMPOTENCY_HEADER: uuid.uuid4().hex,
        **(variant or {}),
    }
    parent_call_id = current_function_call_id()
    if parent_call_id:
        headers[PARENT_CALL_HEADER] = parent_call_id
    if not wait:
        headers["prefer"] = "respond-async"
    request = ApiRequest(
        "POST",
        f"{function_path(app_ref, function_name)}/calls",
        content=serialize_arguments(args, kwargs),
        headers=headers,
    )
    return (yield (yield from with_payload_blob(request)))


def poll_request(call_id: str, wait_s: float) -> ApiRequest:
    """A GET of a call's result that waits up to `wait_s` on the gateway."""
    return ApiRequest(
        "GET",
        f"/v1/calls/{quote(call_id, safe='')}",
        headers={"accept": PICKLE_CONTENT_TYPE},
        params={"timeout_s": round(wait_s, 3)},
        wait_s=wait_s,
    )


def call_id_of(response: httpx.Response) -> str:
    call_id = str(response.headers.get(CALL_ID_HEADER, ""))
    if not call_id:
        raise ServerError(f"the gateway answered {response.status_code} without a call id")
    return call_id


def follow_result(response: httpx.Response, timeout_s: float | None) -> Flow[Any]:
    """Follow a call response (200, 202 or 302) to its value.

    Raises:
        TimeoutError: `timeout_s` passed before the call finished.
        BaseException: the function's own exception, rebuilt.
    """
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while response.status_code in (202, 302):
        call_id = call_id_of(response)
        remaining = POLL_CHUNK_S if deadline is None else deadline - time.monotonic()
        if remaining <= 0 and response.request.method == "GET":
            raise TimeoutError(f"call {call_id} has not finished within {timeout_s} s")
        response = yield poll_request(call_id, max(0.0, min(remaining, POLL_CHUNK_S)))
    return decode_result(response)


def remote_flow(
    app_ref: str,
    function_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    variant: dict[str, str] | None = None,
) -> Flow[Any]:
    response = yield from send_call(
        app_ref, function_name, args, kwargs, wait=True, variant=variant
    )
    return (yield from follow_result(response, None))


def result_flow(call_id: str, timeout_s: float | None) -> Flow[Any]:
    first_wait_s = POLL_CHUNK_S if timeout_s is None else min(max(timeout_s, 0.0), POLL_CHUNK_S)
    response = yield poll_request(call_id, first_wait_s)
    return (yield from follow_result(response, timeout_s))


def decode_result(response: httpx.Response) -> Any:
    if response.status_code == 200:
        if response.headers.get("content-type", "").startswith(PICKLE_CONTENT_TYPE):
            return deserialize(response.content)
        return orjson.loads(response.content)
    raise rebuild_exception(error_body(response))
