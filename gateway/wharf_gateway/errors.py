"""Gateway errors, each rendered as `{"error": {"code": ..., "message": ...}}` with its status.

GatewayError
├── Unauthorized        401 unauthorized       missing, malformed, unknown or revoked token
├── Forbidden           403 forbidden          an admin token is needed
├── NotFound            404 not_found          no such app, function or call in this workspace
├── InvalidRequest      400 invalid_request    malformed JSON, wrong argument shape, bad manifest
├── PayloadTooLarge     413 payload_too_large  body over the configured limit
├── NotAcceptable       406 not_acceptable     the result has no form the caller accepts
├── Conflict            409 conflict           a name in use: a secret, or a label of another app
├── MethodNotAllowed    405 method_not_allowed
├── RateLimited         429 rate_limited       the workspace is over its rate limit
├── BacklogFull         429 backlog_full       too many inputs of one function already wait
├── OutputExpired       410 output_expired     the call's result is older than the retention
├── NoCapacity          503 no_capacity        no runner can ever host what the function asks
└── Internal            500 internal           anything unexpected (logged with the request id)
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    """Base class: a platform error with an HTTP status and a stable code."""

    status = 500
    code = "internal"
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(GatewayError):
    status, code = 401, "unauthorized"
    headers: ClassVar[dict[str, str] | None] = {"www-authenticate": 'Bearer realm="wharf"'}


class Forbidden(GatewayError):
    status, code = 403, "forbidden"


class NotFound(GatewayError):
    status, code = 404, "not_found"


class InvalidRequest(GatewayError):
    status, code = 400, "invalid_request"


class PayloadTooLarge(GatewayError):
    status, code = 413, "payload_too_large"

    def __init__(self, limit_bytes: int, message: str | None = None) -> None:
        super().__init__(message or f"the request body is over the limit of {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


class NotAcceptable(GatewayError):
    status, code = 406, "not_acceptable"


class Conflict(GatewayError):
    status, code = 409, "conflict"


class MethodNotAllowed(GatewayError):
    status, code = 405, "method_not_allowed"


class RateLimited(GatewayError):
    status, code = 429, "rate_limited"

    def __init__(self, retry_after_s: int, headers: dict[str, str]) -> None:
        super().__init__(f"the workspace is over its rate limit; retry in {retry_after_s} s")
        self.headers = {"retry-after": str(retry_after_s), **headers}  # type: ignore[misc]


class BacklogFull(GatewayError):
    status, code = 429, "backlog_full"
    headers: ClassVar[dict[str, str] | None] = {"retry-after": "1"}

    def __init__(self, function_name: str, limit: int) -> None:
        super().__init__(
            f"{limit} inputs of {function_name!r} already wait; retry later, or raise its "
            "max_containers so they drain faster"
        )
        self.function_name = function_name


class TooManyPools(GatewayError):
    status, code = 429, "too_many_pools"
    headers: ClassVar[dict[str, str] | None] = {"retry-after": "5"}

    def __init__(self, function_name: str, limit: int) -> None:
        super().__init__(
            f"{function_name!r} already runs {limit} parameter sets or option variants at once; "
            "retry when some are idle, or use fewer distinct parameter values"
        )


class OutputExpired(GatewayError):
    status, code = 410, "output_expired"

    def __init__(self, call_id: str) -> None:
        super().__init__(f"the result of call {call_id} has expired and is no longer kept")
        self.call_id = call_id


class Internal(GatewayError):
    status, code = 500, "internal"


class NoCapacity(GatewayError):
    status, code = 503, "no_capacity"
