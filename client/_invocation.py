"""One call of a deployed function over the public API: send the arguments, wait for the result."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from client._context import current_function_call_id
from client._errors import ServerError
from client._http import PARENT_CALL_HEADER, PICKLE_CONTENT_TYPE, GatewayClient, error_body
from client._serialization import deserialize, rebuild_exception, serialize_arguments

#: Longest single long-poll; the gateway may answer sooner (it caps waits at its request timeout).
POLL_CHUNK_S = 55.0
CALL_ID_HEADER = "wharf-call-id"


def function_path(app_ref: str, function_name: str) -> str:
    return f"/v1/apps/{quote(app_ref, safe='')}/functions/{quote(function_name, safe='')}"


async def start_call(
    http: GatewayClient,
    app_ref: str,
    function_name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    wait: bool,
) -> httpx.Response:
    """POST a call; with `wait=False` the gateway answers 202 at once."""
    headers = {"content-type": PICKLE_CONTENT_TYPE, "accept": PICKLE_CONTENT_TYPE}
    parent_call_id = current_function_call_id()
    if parent_call_id:
        headers[PARENT_CALL_HEADER] = parent_call_id
    if not wait:
        headers["prefer"] = "respond-async"
    return await http.request(
        "POST",
        f"{function_path(app_ref, function_name)}/calls",
        content=serialize_arguments(args, kwargs),
        headers=headers,
    )


def call_id_of(response: httpx.Response) -> str:
    call_id = str(response.headers.get(CALL_ID_HEADER, ""))
    if not call_id:
        raise ServerError(f"the gateway answered {response.status_code} without a call id")
    return call_id


async def poll_result(http: GatewayClient, call_id: str, wait_s: float) -> httpx.Response:
    """GET a call's result, waiting up to `wait_s` on the gateway."""
    return await http.request(
        "GET",
        f"/v1/calls/{quote(call_id, safe='')}",
        params={"timeout_s": round(wait_s, 3)},
        headers={"accept": PICKLE_CONTENT_TYPE},
        read_timeout_s=wait_s,
    )


async def await_result(
    http: GatewayClient, response: httpx.Response, timeout_s: float | None
) -> Any:
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
        response = await poll_result(http, call_id, max(0.0, min(remaining, POLL_CHUNK_S)))
    return decode_result(response)


def decode_result(response: httpx.Response) -> Any:
    if response.status_code == 200:
        if response.headers.get("content-type", "").startswith(PICKLE_CONTENT_TYPE):
            return deserialize(response.content)
        return orjson.loads(response.content)
    raise rebuild_exception(error_body(response))
