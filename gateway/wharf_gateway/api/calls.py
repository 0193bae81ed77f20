"""Calling functions and reading, waiting for, or cancelling their calls."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from wharf_runner import PayloadFormat

from wharf_gateway.api.apps import web_url
from wharf_gateway.api.common import path_param, read_body, wait_s_of
from wharf_gateway.api.inputs import InputBatch, payload_format_of, read_input_batch
from wharf_gateway.api.values import value_stream_response
from wharf_gateway.calls.arguments import check_json_arguments, check_pickled_arguments
from wharf_gateway.calls.idempotency import (
    ATTEMPT_HEADER,
    IDEMPOTENCY_HEADER,
    check_key,
    fingerprint,
)
from wharf_gateway.calls.service import ActiveCall
from wharf_gateway.errors import BacklogFull, InvalidRequest, NotFound
from wharf_gateway.manifest.classes import (
    check_parameters,
    is_generator_call,
    method_params,
    parse_parameters_header,
)
from wharf_gateway.manifest.schema import check_options
from wharf_gateway.models import FunctionRecord
from wharf_gateway.responses import (
    CALL_ID_HEADER,
    PICKLE_CONTENT_TYPE,
    accepts_pickle,
    json_response,
    outcome_response,
)
from wharf_gateway.scheduling.variants import Variant
from wharf_gateway.server.state import principal_of, state_of
from wharf_gateway.storage.blobs import check_sha256

PARENT_CALL_HEADER = "wharf-parent-call-id"
#: Sent by `remote_gen`: the caller will read the values from `/v1/calls/{id}/values`.
GENERATOR_HEADER = "wharf-generator"
#: Most calls a call graph shows.
MAX_GRAPH_NODES = 10_000
PARAMETERS_HEADER = "wharf-parameters"
#: Names the workspace's blob that holds the call's arguments (sent instead of a body).
PAYLOAD_BLOB_HEADER = "wharf-payload-blob"
OPTIONS_HEADER = "wharf-options"
#: Options a handle cannot override: they shape the container's code, not its pool.
_FIXED_OPTIONS = frozenset({"max_inputs", "target_inputs"})
_CALL_ID = re.compile(r"^fc-[0-9a-f]{32}$")


def result_path(call_id: str) -> str:
    return f"/v1/calls/{call_id}"


def pending_response(request: Request, call_id: str, status: int) -> Response:
    """202 with where to find the result, or 302 there (a result URL redirects to itself)."""
    result_url = f"{state_of(request)['address'].base_url}{result_path(call_id)}"
    headers = {CALL_ID_HEADER: call_id}
    if status == 302:
        return Response(status_code=302, headers={**headers, "location": result_path(call_id)})
    return json_response({"call_id": call_id, "result_url": result_url}, 202, headers)


@dataclass(frozen=True, slots=True)
class _CallRequest:
    """What a call request asks for, checked."""

    function: FunctionRecord
    method: str | None
    is_pickle: bool
    payload_blob: str | None
    blob_bytes: int | None
    variant: Variant
    wants_pickle: bool
    respond_async: bool
    generator: bool


async def _checked_call(request: Request, workspace_id: str, body: bytes) -> _CallRequest:
    """The call `request` asks for, checked against its function.

    Raises:
        InvalidRequest: a web endpoint, bad arguments or parameters, a generator called as a
            plain function.
        NotFound: no such app, function or method.
    """
    function, method = await state_of(request)["apps"].target(
        workspace_id, path_param(request, "app"), path_param(request, "function")
    )
    if function.definition.web is not None:
        raise InvalidRequest(
            f"{function.name} is a web endpoint: call it over HTTP at {web_url(request, function)}"
        )
    is_pickle = PICKLE_CONTENT_TYPE in request.headers.get("content-type", "")
    payload_blob, blob_bytes = await _payload_blob(request, workspace_id, body)
    body_parameters = None
    if is_pickle or payload_blob is not None:
        # A blob's arguments are checked in the container, which reads them.
        method_params(function, method)  # a class needs a method
        if payload_blob is None:
            check_pickled_arguments(body)
    else:
        body_parameters = _json_arguments(request, body, function, method)
    generator = is_generator_call(function, method)
    if generator and is_pickle and GENERATOR_HEADER not in request.headers:
        raise InvalidRequest(
            f"{function.name} is a generator function: call it with .remote_gen() "
            "(.remote() and .spawn() do not apply to generators)"
        )
    return _CallRequest(
        function,
        method,
        is_pickle,
        payload_blob,
        blob_bytes,
        call_variant(request, function, method, body_parameters),
        accepts_pickle(request.headers.get("accept")),
        "respond-async" in request.headers.get("prefer", "").lower(),
        generator,
    )


#: Content types a JSON body may come as (curl's `-d` sends the form type by default).
_JSON_LIKE = ("json", "x-www-form-urlencoded", "text/plain")


def _json_arguments(
    request: Request, body: bytes, function: FunctionRecord, method: str | None
) -> dict[str, Any] | None:
    """`check_json_arguments`, whose error also names a content type that is neither JSON nor
    a pickle (a body sent as XML, or as a file upload, is not the arguments of a call)."""
    try:
        return check_json_arguments(body, function, method)
    except InvalidRequest as exc:
        kind = request.headers.get("content-type", "")
        if not kind or any(like in kind for like in _JSON_LIKE):
            raise
        raise InvalidRequest(
            f"{exc}; the body was sent as {kind!r}: send the arguments as JSON "
            f"(application/json) or pickled ({PICKLE_CONTENT_TYPE})"
        ) from exc


async def _submit(
    request: Request,
    workspace_id: str,
    body: bytes,
    call: _CallRequest,
    idempotency: tuple[str, str] | None = None,
) -> str:
    """Accept the call; returns its id once its row (and its idempotency key) is committed."""
    active = await state_of(request)["calls"].submit(
        workspace_id,
        call.function,
        PayloadFormat.PICKLE if call.is_pickle else PayloadFormat.JSON,
        body,
        wants_json=call.respond_async or not call.wants_pickle,
        wants_pickle=call.wants_pickle or (call.respond_async and call.is_pickle),
        parent_call_id=parent_call_id(request),
        variant=call.variant,
        streamed=call.generator,
        payload_blob=call.payload_blob,
        blob_bytes=call.blob_bytes,
        idempotency=idempotency,
    )
    await active.committed
    return active.task.call_id


#: Headers that shape a call request: a retry with the same key sends the same ones.
_SHAPING_HEADERS = (
    "content-type",
    "accept",
    "prefer",
    PARAMETERS_HEADER,
    OPTIONS_HEADER,
    PAYLOAD_BLOB_HEADER,
    GENERATOR_HEADER,
)


def request_fingerprint(request: Request, body: bytes) -> str:
    headers = (request.headers.get(name, "").encode() for name in _SHAPING_HEADERS)
    return fingerprint([request.url.path.encode(), *headers, body])


async def create_call(request: Request) -> Response:
    """Call a function: 200 with its result, 302 to the result URL past the request timeout,
    202 at once with `Prefer: respond-async`; with an `Idempotency-Key` seen before, the first
    request's call instead of a new one; 400, 401, 404, 409, 413, 429.
    """
    state = state_of(request)
    principal = await principal_of(request)
    body = await read_body(request, state["config"].max_body_bytes)
    call = await _checked_call(request, principal.workspace_id, body)
    key = check_key(request.headers.get(IDEMPOTENCY_HEADER))
    if key is None:
        return await _answer(
            request, call, await _submit(request, principal.workspace_id, body, call)
        )
    print_ = request_fingerprint(request, body)
    fresh = request.headers.get(ATTEMPT_HEADER) == "0"
    async with state["idempotency"].claim(
        principal.workspace_id, key, print_, fresh=fresh
    ) as claim:
        if claim.existing is None:
            call_id = await _submit(request, principal.workspace_id, body, call, (key, print_))
            claim.answer, claim.recorded = {"call_id": call_id}, True
    answer = claim.existing or claim.answer or {}
    return await _answer(request, call, str(answer["call_id"]), again=claim.existing is not None)


async def _answer(
    request: Request, call: _CallRequest, call_id: str, again: bool = False
) -> Response:
    """The answer to an accepted call (`again`: the same call asked for once more)."""
    state = state_of(request)
    workspace_id = call.function.workspace_id
    if call.generator and not call.is_pickle and not again:
        # Other callers read the values as they come, on this same response.
        return value_stream_response(request, workspace_id, call_id)
    if call.respond_async or call.generator:
        return pending_response(request, call_id, 202)
    outcome = await state["calls"].wait(workspace_id, call_id, state["config"].request_timeout_s)
    if outcome is None:
        return pending_response(request, call_id, 302)
    return outcome_response(outcome, call.wants_pickle, state["blobs"].path_of)


def parent_call_id(request: Request) -> str | None:
    """The call this one is made from (its container sends it), if the header names one."""
    header = request.headers.get(PARENT_CALL_HEADER)
    return header if header and _CALL_ID.match(header) else None


async def _payload_blob(
    request: Request, workspace_id: str, body: bytes
) -> tuple[str, int] | tuple[None, None]:
    """The blob named as the call's arguments by the `wharf-payload-blob` header, and its
    size; or nothing.

    Raises:
        InvalidRequest: a bad name, a body besides, or a blob the workspace has not stored.
    """
    header = request.headers.get(PAYLOAD_BLOB_HEADER)
    if header is None:
        return None, None
    sha256 = check_sha256(header)
    if body:
        raise InvalidRequest(
            f"a call with a {PAYLOAD_BLOB_HEADER} header takes its arguments from the blob; "
            "send an empty body"
        )
    size = await state_of(request)["blobs"].claim(workspace_id, sha256)
    if size is None:
        raise InvalidRequest(
            f"no blob {sha256} in this workspace: PUT the arguments to /v1/blobs/{sha256} first"
        )
    return sha256, size


async def spawn_calls(request: Request) -> Response:
    """Start one call per input of an input frame (`gateway/routes/inputs.py`; its head's
    `"format"` is `"pickle"` or `"json"`), none waited for (`spawn_map`): 202 `{"call_ids"}` of
    the inputs taken, in order: all of them, unless the function's backlog filled up, when the
    caller sends the rest later; with an `Idempotency-Key` seen before, the first request's
    calls; 400, 401, 404, 409, 413, 429 (none taken)."""
    state = state_of(request)
    principal = await principal_of(request)
    function, method = await state["apps"].target(
        principal.workspace_id, path_param(request, "app"), path_param(request, "function")
    )
    if function.definition.web is not None or is_generator_call(function, method):
        kind = "a web endpoint" if function.definition.web is not None else "a generator function"
        raise InvalidRequest(f"{function.name} is {kind}: its calls cannot be spawned")
    batch = await read_input_batch(request, principal.workspace_id)
    payload_format = payload_format_of(batch)
    if payload_format is PayloadFormat.JSON:
        batch.check_json(function, method)
    else:
        method_params(function, method)  # a class needs a method
    variant = call_variant(request, function, method, None)
    key = check_key(request.headers.get(IDEMPOTENCY_HEADER))
    if key is None:
        call_ids = await _spawn_batch(request, principal.workspace_id, function, variant, batch)
        return json_response({"call_ids": call_ids}, 202)
    blobs = [(batch.blob_of(position) or "").encode() for position in range(len(batch.payloads))]
    print_ = fingerprint([request_fingerprint(request, b"").encode(), *batch.payloads, *blobs])
    async with state["idempotency"].claim(principal.workspace_id, key, print_) as claim:
        if claim.existing is None:
            call_ids = await _spawn_batch(request, principal.workspace_id, function, variant, batch)
            claim.answer = {"call_ids": call_ids}
    return json_response(claim.existing or claim.answer, 202)


async def _spawn_batch(
    request: Request,
    workspace_id: str,
    function: FunctionRecord,
    variant: Variant,
    batch: InputBatch,
) -> list[str]:
    """Accept a call per input, until the function's backlog is full; their ids, committed.

    Raises:
        BacklogFull: not even the first input fits.
    """
    payload_format = payload_format_of(batch)
    parent = parent_call_id(request)
    accepted: list[ActiveCall] = []
    for position, payload in enumerate(batch.payloads):
        try:
            active = await state_of(request)["calls"].submit(
                workspace_id,
                function,
                payload_format,
                payload,
                wants_json=True,
                wants_pickle=payload_format is PayloadFormat.PICKLE,
                parent_call_id=parent,
                variant=variant,
                payload_blob=batch.blob_of(position),
                blob_bytes=batch.blob_bytes[position],
            )
        except BacklogFull:
            if not accepted:
                raise
            break
        accepted.append(active)
    await asyncio.gather(*(active.committed for active in accepted))
    return [active.task.call_id for active in accepted]


def call_variant(
    request: Request,
    function: FunctionRecord,
    method: str | None,
    body_parameters: dict[str, Any] | None,
) -> Variant:
    """The method, class parameters (header or JSON body) and option overrides of a call.

    Raises:
        InvalidRequest: bad parameters (see `check_parameters`) or bad option overrides.
    """
    header = request.headers.get(PARAMETERS_HEADER)
    if header is not None:
        kind, data = parse_parameters_header(header)
    else:
        kind, data = "json", orjson.dumps(body_parameters or {})
    parameters = check_parameters(function, kind, data)
    options: dict[str, Any] = {}
    raw_options = request.headers.get(OPTIONS_HEADER)
    if raw_options is not None:
        try:
            decoded = orjson.loads(raw_options)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequest(f"the {OPTIONS_HEADER} header is not JSON: {exc}") from exc
        options = check_options(function.name, decoded)
        bad = sorted(set(options) & _FIXED_OPTIONS)
        if bad:
            raise InvalidRequest(f"{bad[0]} cannot be changed per call")
        check_options(function.name, function.options.to_json() | options)
    return Variant(method, parameters, options)


async def get_call(request: Request) -> Response:
    """A call's result, waiting up to `?timeout_s=` (else the request timeout, then 302 to
    itself): 200 or the call's error; 202 while pending with `timeout_s`; 401, 404, 410.
    """
    state = state_of(request)
    principal = await principal_of(request)
    call_id = path_param(request, "call_id")
    wait_s = wait_s_of(request, state["config"].request_timeout_s)
    wait_for_s = state["config"].request_timeout_s if wait_s is None else wait_s
    outcome = await state["calls"].wait(principal.workspace_id, call_id, wait_for_s)
    if outcome is None:
        return pending_response(request, call_id, 302 if wait_s is None else 202)
    wants_pickle = accepts_pickle(request.headers.get("accept"))
    return outcome_response(outcome, wants_pickle, state["blobs"].path_of)


async def cancel_call(request: Request) -> Response:
    """Cancel a call that has not finished: 200 with its final status; 401, 404."""
    principal = await principal_of(request)
    call_id = path_param(request, "call_id")
    status = await state_of(request)["calls"].cancel(principal.workspace_id, call_id)
    return json_response({"call_id": call_id, "status": status.value})


async def call_graph(request: Request) -> Response:
    """The tree of calls made from a call (and from those, at any depth): each node has
    `call_id`, `function_name`, `status` and `children`: 200; 401, 404."""
    principal = await principal_of(request)
    rows = await state_of(request)["store"].call_tree(
        principal.workspace_id, path_param(request, "call_id"), MAX_GRAPH_NODES
    )
    if not rows:
        raise NotFound(f"no call with id {path_param(request, 'call_id')!r}")
    nodes: dict[str, dict[str, Any]] = {
        call_id: {"call_id": call_id, "function_name": name, "status": status, "children": []}
        for call_id, _, name, status in rows[: MAX_GRAPH_NODES + 1]
    }
    for call_id, parent, _, _ in rows[1:]:
        if parent in nodes and call_id in nodes:
            nodes[parent]["children"].append(nodes[call_id])
    root = nodes[rows[0][0]]
    return json_response({**root, "truncated": len(rows) > MAX_GRAPH_NODES + 1})


ROUTES = [
    Route("/v1/apps/{app}/functions/{function}/calls", create_call, methods=["POST"]),
    Route("/v1/apps/{app}/functions/{function}/calls/batch", spawn_calls, methods=["POST"]),
    Route("/v1/calls/{call_id}/graph", call_graph, methods=["GET"]),
    Route("/v1/calls/{call_id}", get_call, methods=["GET"]),
    Route("/v1/calls/{call_id}", cancel_call, methods=["DELETE"]),
]
