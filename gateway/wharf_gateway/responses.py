"""Turning errors and call outcomes into HTTP responses, in the format the caller accepts."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from starlette.responses import FileResponse, Response

from wharf_gateway.errors import GatewayError
from wharf_gateway.models import CallOutcome, CallStatus

PICKLE_CONTENT_TYPE = "application/x-python-pickle"
JSON_CONTENT_TYPE = "application/json"
SSE_CONTENT_TYPE = "text/event-stream"
CALL_ID_HEADER = "wharf-call-id"
CALL_STATUS_HEADER = "wharf-call-status"

#: HTTP status of each final outcome that is not a success.
_OUTCOME_STATUS = {
    "function_failed": 500,
    "startup_failed": 500,
    "function_timeout": 504,
    "call_cancelled": 409,
    "call_terminated": 500,
}


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(data), status, headers, media_type=JSON_CONTENT_TYPE)


def error_response(error: GatewayError) -> Response:
    body = {"error": {"code": error.code, "message": error.message}}
    return json_response(body, error.status, error.headers)


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
        code = "result_not_json" if outcome.json_error else "not_acceptable"
        return json_response({"error": {"code": code, "message": message}}, 406, headers)
    error = dict(outcome.error or {"code": "internal", "message": "the call failed"})
    if wants_pickle and outcome.pickled is not None:
        error["exception_pickle"] = base64.b64encode(outcome.pickled).decode("ascii")
    status = _OUTCOME_STATUS.get(str(error.get("code")), 500)
    return json_response({"error": error, "call_id": outcome.call_id}, status, headers)
