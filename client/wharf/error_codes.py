"""The gateway's error codes: the `code` of every `{"error": {"code": ..., "message": ...}}`.

This is the wire contract both sides share: the gateway sends only these codes, and the client
turns each into its exception class (`wharf.exception`). A code is added here first, then on
both sides; the values are what travels and what the store keeps.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    """Why a request or a call failed."""

    #: The token is missing, malformed, unknown, expired or revoked (401).
    UNAUTHORIZED = "unauthorized"
    #: The token is valid but may not do this: an admin token is needed (403).
    FORBIDDEN = "forbidden"
    #: No such app, function, call, secret or deploy in this workspace (404).
    NOT_FOUND = "not_found"
    #: Malformed JSON, a wrong argument shape, a bad manifest or option (400).
    INVALID_REQUEST = "invalid_request"
    #: A deploy's image build failed; the build log says why (400, in the deploy's status).
    IMAGE_BUILD_FAILED = "image_build_failed"
    #: The request body is over the configured limit (413).
    PAYLOAD_TOO_LARGE = "payload_too_large"
    #: A web endpoint's request headers are over the gateway's limit (431).
    HEADERS_TOO_LARGE = "headers_too_large"
    #: The result has no form the caller accepts (406).
    NOT_ACCEPTABLE = "not_acceptable"
    #: The result could not be encoded as JSON, and the caller asked for JSON (406).
    RESULT_NOT_JSON = "result_not_json"
    #: A name already in use, or a deploy superseded by a newer one (409).
    CONFLICT = "conflict"
    #: The route exists but not with this method (405).
    METHOD_NOT_ALLOWED = "method_not_allowed"
    #: Any other HTTP error the web framework raised, with its own status.
    HTTP_ERROR = "http_error"
    #: The workspace is over its request rate limit (429).
    RATE_LIMITED = "rate_limited"
    #: Too many inputs of one function already wait to run (429).
    BACKLOG_FULL = "backlog_full"
    #: A function already runs too many parameter sets or option variants at once (429).
    TOO_MANY_POOLS = "too_many_pools"
    #: A map holds as many running or unread inputs as it may (429).
    MAP_WINDOW_FULL = "map_window_full"
    #: The workspace has as many maps open as it may (429).
    TOO_MANY_MAPS = "too_many_maps"
    #: The workspace has as many live log streams open as it may (429).
    TOO_MANY_LOG_STREAMS = "too_many_log_streams"
    #: The call finished, but its result is older than the gateway keeps results (410).
    OUTPUT_EXPIRED = "output_expired"
    #: No runner can ever host what the function asks for (503).
    NO_CAPACITY = "no_capacity"
    #: The user's function raised; the body carries its type, traceback and pickle (500).
    FUNCTION_FAILED = "function_failed"
    #: The function's container did not start (500).
    STARTUP_FAILED = "startup_failed"
    #: An input ran past its function's timeout (504).
    FUNCTION_TIMEOUT = "function_timeout"
    #: The call was cancelled before it produced a result (409).
    CALL_CANCELLED = "call_cancelled"
    #: The platform ended the call: its container kept stopping, its function was stopped, or
    #: the gateway restarted while it ran (500).
    CALL_TERMINATED = "call_terminated"
    #: A web endpoint's container failed or answered too much to keep (502).
    BAD_GATEWAY = "bad_gateway"
    #: The gateway's disk is full: nothing was accepted; it takes calls again once there is
    #: room (507).
    INSUFFICIENT_STORAGE = "insufficient_storage"
    #: Anything unexpected in the gateway; logged with the request id (500).
    INTERNAL = "internal"


def parse_error_code(value: object) -> ErrorCode | None:
    """The code `value` names, or None when it names none (a code newer than this side).

    Args:
        value: a code as read from a response body or a stored outcome.

    Returns:
        The `ErrorCode`, or None.
    """
    try:
        return ErrorCode(str(value))
    except ValueError:
        return None
