"""Maps: start one, send it batches of inputs, read its outputs as they finish, end it.

Inputs and outputs travel as frames (`runner.wire`): a length-prefixed JSON head, then the
payloads one after another, so a batch of thousands costs one request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from wharf.error_codes import ErrorCode
from wharf_runner import PayloadFormat, encode_frame

from wharf_gateway.api.apps import web_url
from wharf_gateway.api.calls import call_variant, request_fingerprint
from wharf_gateway.api.common import json_object_of, path_param, read_body, wait_s_of
from wharf_gateway.api.inputs import MAX_BATCH, read_input_batch
from wharf_gateway.calls.arguments import check_json_arguments
from wharf_gateway.calls.idempotency import ATTEMPT_HEADER, IDEMPOTENCY_HEADER, check_key
from wharf_gateway.calls.maps import MapService, MapSession
from wharf_gateway.calls.outcomes import unowned_blob
from wharf_gateway.errors import InvalidRequest
from wharf_gateway.manifest.classes import is_generator_call, method_params
from wharf_gateway.models import CallOutcome, FunctionRecord, Principal
from wharf_gateway.responses import error_body, json_response
from wharf_gateway.server.state import principal_of, state_of

FRAME_CONTENT_TYPE = "application/vnd.wharf.frame"
NDJSON_CONTENT_TYPE = "application/x-ndjson"
#: Bytes of a blob result read at a time into an NDJSON answer.
BLOB_READ_BYTES = 1024 * 1024


async def _target(request: Request) -> tuple[Principal, FunctionRecord, str | None]:
    """Who maps which function (or class method).

    Raises:
        NotFound, InvalidRequest: no such function, or a web endpoint, or a bare class.
    """
    principal = await principal_of(request)
    function, method = await state_of(request)["apps"].target(
        principal.workspace_id, path_param(request, "app"), path_param(request, "function")
    )
    if function.definition.web is not None:
        raise InvalidRequest(f"{function.name} is a web endpoint: {web_url(request, function)}")
    method_params(function, method)
    return principal, function, method


async def open_map(request: Request) -> Response:
    """Start a map of a function (`{"format": "pickle"|"json", "parameters": {...}}`):
    201 `{"map_id"}`; with an `Idempotency-Key` seen before, the first request's map instead
    of a new one; 400, 401, 404, 409, 429, 503."""
    principal, function, method = await _target(request)
    state = state_of(request)
    raw = await read_body(request, 64 * 1024)
    body = json_object_of(raw)
    key = check_key(request.headers.get(IDEMPOTENCY_HEADER))
    if key is None:
        return json_response(_open(request, principal, function, method, body), 201)
    fresh = request.headers.get(ATTEMPT_HEADER) == "0"
    async with state["idempotency"].claim(
        principal.workspace_id, key, request_fingerprint(request, raw), fresh=fresh
    ) as claim:
        if claim.existing is None:
            claim.answer = _open(request, principal, function, method, body)
    return json_response(claim.existing or claim.answer, 201)


def _open(
    request: Request,
    principal: Principal,
    function: FunctionRecord,
    method: str | None,
    body: dict[str, Any],
) -> dict[str, Any]:
    """Open the map; the answer `{"map_id", ...limits}`."""
    state = state_of(request)
    kind = body.get("format", "pickle")
    if kind not in ("pickle", "json"):
        raise InvalidRequest('"format" must be "pickle" or "json"')
    parameters = body.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidRequest('"parameters" must be a JSON object')
    session = state["maps"].open(
        principal.workspace_id,
        function,
        call_variant(request, function, method, parameters),
        PayloadFormat(kind),
        wants_pickle=kind == "pickle",
    )
    maps = state["maps"]
    limits = {
        "idle_timeout_s": maps.idle_timeout_s,
        "max_batch_bytes": maps.max_batch_bytes,
        "max_input_bytes": maps.max_input_bytes,
    }
    return {"map_id": session.map_id, **limits}


async def _session(request: Request) -> MapSession:
    principal = await principal_of(request)
    return state_of(request)["maps"].get(principal.workspace_id, path_param(request, "map_id"))


async def send_inputs(request: Request) -> Response:
    """Queue a batch of inputs: an input frame (`gateway/routes/inputs.py`) of pickled
    `(args, kwargs)` or `{"args", "kwargs"}` JSON payloads: 200 `{"accepted"}` (the inputs sent
    so far); 400, 401, 404, 413, 429 (the map holds too many)."""
    session = await _session(request)
    batch = await read_input_batch(request, session.workspace_id)
    if session.payload_format is PayloadFormat.JSON:
        batch.check_json(session.function, session.variant.method)
    state_of(request)["maps"].add_inputs(session, batch.payloads, batch.blobs)
    return json_response({"accepted": session.accepted})


async def read_outputs(request: Request) -> Response:
    """Outputs after sequence number `?after=` (those are dropped: received), waiting up to
    `?timeout_s=` for one: a frame whose head lists `{"seq", "index", "status", "size",
    "error"}` and `"running"`, then each value (pickled, or JSON); 200; 400, 401, 404."""
    session = await _session(request)
    state = state_of(request)
    raw_after = request.query_params.get("after", "0")
    if not raw_after.isdigit():
        raise InvalidRequest(f"after must be a sequence number, not {raw_after!r}")
    wait_s = wait_s_of(request, state["config"].request_timeout_s) or 0.0
    outputs = await state["maps"].read(session, int(raw_after), wait_s)
    heads, parts = [], []
    for seq, index, outcome in outputs:
        value = outcome.pickled if session.wants_pickle else outcome.json
        blob = outcome.pickled_blob if session.wants_pickle else outcome.json_blob
        part = value or b""
        head = {
            "seq": seq,
            "index": index,
            "status": outcome.status.value,
            "size": len(part),
            "error": outcome.error,
            "json_error": outcome.json_error,
        }
        if blob is not None:
            head["blob"] = blob  # a value over 2 MiB: GET /v1/blobs/{blob}
        heads.append(head)
        parts.append(part)
    # A generator function's outputs are lists of its values, for the caller to flatten.
    flatten = is_generator_call(session.function, session.variant.method)
    frame = encode_frame(
        {"outputs": heads, "running": len(session.running), "flatten": flatten}, parts
    )
    return Response(frame, media_type=FRAME_CONTENT_TYPE)


async def touch_map(request: Request) -> Response:
    """Keep a map whose caller is busy between reads: 204; 401, 404."""
    await _session(request)  # looking it up marks it as read
    return Response(status_code=204)


async def close_map(request: Request) -> Response:
    """End a map: waiting inputs are dropped, running ones' outputs ignored: 200; 401, 404."""
    session = await _session(request)
    state_of(request)["maps"].close(session)
    return json_response({"map_id": session.map_id, "closed": True})


ROUTES = [
    Route("/v1/apps/{app}/functions/{function}/maps", open_map, methods=["POST"]),
    Route("/v1/maps/{map_id}/inputs", send_inputs, methods=["POST"]),
    Route("/v1/maps/{map_id}/outputs", read_outputs, methods=["GET"]),
    Route("/v1/maps/{map_id}", close_map, methods=["DELETE"]),
    Route("/v1/maps/{map_id}/touch", touch_map, methods=["POST"]),
]


async def map_ndjson(request: Request) -> Response:
    """Map over newline-delimited JSON inputs, one `{"args": [...], "kwargs": {...}}` per
    line, streaming newline-delimited JSON results as they finish: `{"index", "result"}` or
    `{"index", "error"}` (a bad line gets its error in place): 200; 400, 401, 404, 413."""
    principal, function, method = await _target(request)
    state = state_of(request)
    # The whole body first: a streaming answer may not read the request any more.
    body = await read_body(request, state["config"].max_body_bytes)
    lines = [line for line in body.split(b"\n") if line.strip()]
    maps, blobs = state["maps"], state["blobs"]
    session = maps.open(
        principal.workspace_id,
        function,
        call_variant(request, function, method, None),
        PayloadFormat.JSON,
        wants_pickle=False,
    )

    async def results() -> AsyncIterator[bytes]:
        feeder = asyncio.create_task(_feed(maps, session, lines, method))
        after = answered = 0
        try:
            while answered < len(lines) and not session.closed:
                outputs = await maps.read(session, after, 1.0)
                for seq, index, outcome in outputs:
                    after, answered = seq, answered + 1
                    blob = outcome.json_blob
                    if blob is not None and await blobs.size_of(session.workspace_id, blob):
                        async for part in _blob_line(index, blobs.path_of(blob)):
                            yield part
                    elif blob is not None:
                        yield _ndjson_line(index, unowned_blob(outcome.call_id, blob))
                    else:
                        yield _ndjson_line(index, outcome)
                    maps.touch(session)  # a slow reader is still a reader
            await feeder
        finally:
            feeder.cancel()
            maps.close(session)

    return StreamingResponse(results(), media_type=NDJSON_CONTENT_TYPE)


async def _feed(
    maps: MapService, session: MapSession, lines: list[bytes], method: str | None
) -> None:
    """Send an NDJSON map's lines as the window lets them in; a bad line is answered with
    its error in its place."""
    position = 0
    while position < len(lines) and not session.closed:
        count = await maps.room(session, min(len(lines) - position, MAX_BATCH))
        payloads: list[bytes] = []
        for line in lines[position : position + count]:
            try:
                check_json_arguments(line, session.function, method)
            except InvalidRequest as exc:
                if payloads:
                    maps.add_inputs(session, payloads)
                    payloads = []
                maps.reject(session, exc.code, exc.message)
                continue
            payloads.append(line)
        if payloads:
            maps.add_inputs(session, payloads)
        position += count


async def _blob_line(index: int, path: Path) -> AsyncIterator[bytes]:
    """The line of a result over 2 MiB, read from its blob a piece at a time."""
    yield b'{"index":%d,"result":' % index
    with await asyncio.to_thread(path.open, "rb") as file:
        while chunk := await asyncio.to_thread(file.read, BLOB_READ_BYTES):
            yield chunk
    yield b"}\n"


def _ndjson_line(index: int, outcome: CallOutcome) -> bytes:
    if outcome.status.value == "success" and outcome.json is not None:
        return b'{"index":%d,"result":%s}\n' % (index, outcome.json)
    message = outcome.json_error or "the result has no JSON form"
    error = outcome.error or error_body(ErrorCode.RESULT_NOT_JSON, message)["error"]
    return orjson.dumps({"index": index, "error": error}) + b"\n"


ROUTES.append(Route("/v1/apps/{app}/functions/{function}/map", map_ndjson, methods=["POST"]))
