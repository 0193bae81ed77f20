"""The values of generator calls as they are yielded: for Python callers in batches
(`GET /v1/calls/{id}/values`), for others as newline-delimited JSON or server-sent events."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from wharf_runner import encode_frame

from wharf_gateway.api.common import path_param, wait_s_of
from wharf_gateway.errors import InvalidRequest
from wharf_gateway.responses import (
    SSE_CONTENT_TYPE,
    accepts_event_stream,
    accepts_pickle,
    sse_event,
)
from wharf_gateway.server.state import principal_of, state_of

FRAME_CONTENT_TYPE = "application/vnd.wharf.frame"
NDJSON_CONTENT_TYPE = "application/x-ndjson"
#: Longest wait of one read of a stream that has nothing new yet.
READ_WAIT_S = 15.0


async def read_values(request: Request) -> Response:
    """A generator call's values. Python callers (`Accept` the pickle type) get those after
    sequence number `?after=`, waiting up to `?timeout_s=` for one, as a frame whose head is
    `{"values": [{"seq", "size"}], "ended"}`; others get every value still to come as
    newline-delimited JSON (or server-sent events with `Accept: text/event-stream`): 200;
    400, 401, 404."""
    principal = await principal_of(request)
    state = state_of(request)
    stream = state["calls"].streams.get(principal.workspace_id, path_param(request, "call_id"))
    if not accepts_pickle(request.headers.get("accept")):
        return value_stream_response(request, principal.workspace_id, stream.call_id)
    raw_after = request.query_params.get("after", "0")
    if not raw_after.isdigit():
        raise InvalidRequest(f"after must be a sequence number, not {raw_after!r}")
    wait_s = min(wait_s_of(request, READ_WAIT_S) or 0.0, READ_WAIT_S)
    values = await stream.read(int(raw_after), wait_s)
    heads, parts = [], []
    for seq, output in values:
        parts.append(output.pickled or b"")
        heads.append({"seq": seq, "size": len(parts[-1])})
    ended = stream.read_all(values)
    if ended:  # these are the last: the caller asks for the call's end next
        state["calls"].streams.finished_reading(stream)
    return Response(
        encode_frame(
            {
                "values": heads,
                "ended": ended,
                "idle_timeout_s": state["calls"].streams.idle_timeout_s,
            },
            parts,
        ),
        media_type=FRAME_CONTENT_TYPE,
    )


async def touch_values(request: Request) -> Response:
    """Keep a generator call whose caller is busy between reads: 204; 401, 404."""
    principal = await principal_of(request)
    stream = state_of(request)["calls"].streams.get(
        principal.workspace_id, path_param(request, "call_id")
    )
    stream.last_read_s = time.monotonic()
    return Response(status_code=204)


def value_stream_response(request: Request, workspace_id: str, call_id: str) -> Response:
    """Every value of a generator call still to come, one line (or event) each as it is
    yielded, then its error, if it failed."""
    state = state_of(request)
    stream = state["calls"].streams.get(workspace_id, call_id)
    sse = accepts_event_stream(request.headers.get("accept"))

    async def lines() -> AsyncIterator[bytes]:
        after = 0
        try:
            while True:
                values = await stream.read(after, READ_WAIT_S)
                for seq, output in values:
                    after = seq
                    yield _line(seq - 1, output.json or b"null", sse)
                if stream.read_all(values):
                    break
            outcome = await state["calls"].wait(workspace_id, call_id, READ_WAIT_S)
            if outcome is not None and outcome.error is not None:
                yield _error(outcome.error, sse)
        finally:
            state["calls"].streams.finished_reading(stream)
            if not stream.ended:
                # The caller left mid-stream: nobody will read the rest.
                stream.closed = True
                await state["calls"].cancel(workspace_id, call_id)

    media_type = SSE_CONTENT_TYPE if sse else NDJSON_CONTENT_TYPE
    return StreamingResponse(lines(), media_type=media_type, headers={"wharf-call-id": call_id})


def _line(index: int, value: bytes, sse: bool) -> bytes:
    if sse:
        return sse_event(value)
    return b'{"index":%d,"result":%s}\n' % (index, value)


def _error(error: dict[str, object], sse: bool) -> bytes:
    encoded = orjson.dumps(error)
    if sse:
        return sse_event(encoded, "error")
    return b'{"error":%s}\n' % encoded


ROUTES = [
    Route("/v1/calls/{call_id}/values", read_values, methods=["GET"]),
    Route("/v1/calls/{call_id}/values/touch", touch_values, methods=["POST"]),
]
