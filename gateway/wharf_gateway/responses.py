"""Turning errors and call outcomes into HTTP responses, in the format the caller accepts."""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from starlette.responses import FileResponse, Response
from wharf.error_codes import ErrorCode

from wharf_gateway.errors import GatewayError
from wharf_gateway.models import CallOutcome, CallStatus, WebResponse

PICKLE_CONTENT_TYPE = "application/x-python-pickle"
JSON_CONTENT_TYPE = "application/json"
SSE_CONTENT_TYPE = "text/event-stream"
CALL_ID_HEADER = "wharf-call-id"
CALL_STATUS_HEADER = "wharf-call-status"

#: HTTP status of each final outcome that is not a success.
_OUTCOME_STATUS: dict[str, int] = {
    ErrorCode.FUNCTION_FAILED: 500,
    ErrorCode.STARTUP_FAILED: 500,
    ErrorCode.FUNCTION_TIMEOUT: 504,
    ErrorCode.CALL_CANCELLED: 409,
    ErrorCode.CALL_TERMINATED: 500,
}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type=JSON_CONTENT_TYPE)


def error_body(code: ErrorCode, message: str) -> dict[str, dict[str, str]]:
    """The one error shape, `{"error": {"code": ..., "message": ...}}`: every error response's
    body, and the `error` of a deploy's status or a live log stream's `error` event."""
    return {"error": {"code": code.value, "message": message}}


def render_error(
    status: int, code: ErrorCode, message: str, headers: Mapping[str, str] | None = None
) -> WebResponse:
    """An error as a whole response: its status, its JSON body and its headers (`Retry-After`,
    `WWW-Authenticate`, ...). Both the API and the web endpoints answer errors with this."""
    raw_headers = [(b"content-type", JSON_CONTENT_TYPE.encode())]
    for name, value in (headers or {}).items():
        raw_headers.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    return WebResponse(status, raw_headers, orjson.dumps(error_body(code, message)))


def render_gateway_error(error: GatewayError) -> WebResponse:
    """`render_error` of a `GatewayError`, from its class's status, code and headers."""
    return render_error(error.status, error.code, error.message, error.headers)


def error_response(error: GatewayError) -> Response:
    """`render_gateway_error` as a Starlette response, for the API's exception handlers."""
    rendered = render_gateway_error(error)
    response = Response(rendered.body, rendered.status)
    # Starlette set only content-length: the rendered headers go before it, in their order.
    response.raw_headers = [*rendered.headers, *response.raw_headers]
    return response


class BlobResponse(FileResponse):
    """A stored payload file, streamed from disk."""

    # Bigger reads than Starlette's 64 KiB: 1 GiB in 1,024 hops to a thread, not 16,384.
    chunk_size = 1024 * 1024


def accepts_pickle(accept_header: str | None) -> bool:
    return bool(accept_header) and PICKLE_CONTENT_TYPE in str(accept_header)


def accepts_event_stream(accept_header: str | None) -> bool:
    return bool(accept_header) and SSE_CONTENT_TYPE in str(accept_header)


def sse_event(data: bytes, event: str | None = None, event_id: int | None = None) -> bytes:
    """One server-sent event. `data` must be one line (compact JSON always is)."""
    head = b"" if event is None else b"event: %s\n" % event.encode()
    if event_id is not None:
        head += b"id: %d\n" % event_id
    return b"%sdata: %s\n\n" % (head, data)


def outcome_response(
    outcome: CallOutcome, wants_pickle: bool, blob_path: Callable[[str], Path]
) -> Response:
    """The response for a finished call: its value (a blob streamed from `blob_path`), or
    its error in the one error shape."""
    headers = {CALL_ID_HEADER: outcome.call_id, CALL_STATUS_HEADER: outcome.status.value}
    if outcome.web is not None:
        replayed = Response(outcome.web.body, outcome.web.status)
        replayed.raw_headers = [
            *(pair for pair in outcome.web.headers if pair[0].lower() != b"content-length"),
            (b"content-length", b"%d" % len(outcome.web.body)),
            # An endpoint's page, shown on the API's (and the dashboard's) origin: inert there.
            (b"content-security-policy", b"sandbox"),
            (b"x-content-type-options", b"nosniff"),
        ]
        return replayed
    if outcome.status is CallStatus.SUCCESS:
        if wants_pickle and outcome.pickled_blob is not None:
            path = blob_path(outcome.pickled_blob)
            return BlobResponse(path, headers=headers, media_type=PICKLE_CONTENT_TYPE)
        if wants_pickle and outcome.pickled is not None:
            return Response(outcome.pickled, 200, headers, media_type=PICKLE_CONTENT_TYPE)
        if outcome.json_blob is not None:
            path = blob_path(outcome.json_blob)
            return BlobResponse(path, headers=headers, media_type=JSON_CONTENT_TYPE)
        if outcome.json is not None:
            return Response(outcome.json, 200, headers, media_type=JSON_CONTENT_TYPE)
        message = outcome.json_error or (
            "this call was made from Python and its result is kept only as a Python pickle; "
            f"read it with the Python client, or send `Accept: {PICKLE_CONTENT_TYPE}`"
        )
        code = ErrorCode.RESULT_NOT_JSON if outcome.json_error else ErrorCode.NOT_ACCEPTABLE
        return json_response(error_body(code, message), 406, headers)
    error = dict(outcome.error or error_body(ErrorCode.INTERNAL, "the call failed")["error"])
    if wants_pickle and outcome.pickled is not None:
        error["exception_pickle"] = base64.b64encode(outcome.pickled).decode("ascii")
    status = _OUTCOME_STATUS.get(str(error.get("code")), 500)
    return json_response({"error": error, "call_id": outcome.call_id}, status, headers)
