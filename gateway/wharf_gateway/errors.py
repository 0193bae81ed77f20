"""Gateway errors, each rendered as `{"error": {"code": ..., "message": ...}}` with its status
(by `responses.render_error`); the codes are the SDK's `wharf.error_codes.ErrorCode`.

GatewayError
├── Unauthorized      401 unauthorized          missing, malformed, unknown or revoked token
├── Forbidden         403 forbidden             an admin token is needed
├── NotFound          404 not_found             no such app, function or call in this workspace
├── InvalidRequest    400 invalid_request       malformed JSON, wrong argument shape, bad manifest
│   └── BuildFailed   400 image_build_failed    a deploy's image build failed (its log says why)
├── PayloadTooLarge   413 payload_too_large     body over the configured limit
├── NotAcceptable     406 not_acceptable        the result has no form the caller accepts
├── Conflict          409 conflict              a name in use: a secret, or another app's label
├── Superseded        409 conflict              a newer deploy of the same app came first
├── MethodNotAllowed  405 method_not_allowed
├── RateLimited       429 rate_limited          a workspace budget, a client, or failed logins
├── BacklogFull       429 backlog_full          too many inputs of one function already wait
├── TooManyPools      429 too_many_pools        too many parameter sets of a function run at once
├── WindowFull        429 map_window_full       a map holds too many running or unread inputs
├── TooManyMaps       429 too_many_maps         the workspace has too many maps open
├── TooManyStreams    429 too_many_log_streams  the workspace has too many live log streams open
├── OutputExpired     410 output_expired        the call's result is older than the retention
├── NoCapacity        503 no_capacity           no runner can ever host what the function asks
├── SecretUnreadable  500 internal              a sealed secret does not open with this key
├── InsufficientStorage 507 insufficient_storage  the disk is full: nothing was accepted
└── Internal          500 internal              anything unexpected (logged with the request id)

Raised inside the gateway and turned into answers where they are caught (never rendered as
they are):

Exception
├── ConfigError       a setting is missing or invalid (stops the start; names the variable)
├── StoreError        a database read or write failed, or the database would not open
│   ├── StoreConflict     a write broke a uniqueness rule
│   └── StoreFull         no room on the disk for a write (answered 507)
├── WebUnavailable    no container could take a web request (the proxy answers 503)
├── UpstreamError     a container's web server refused, reset or spoke nonsense (502)
└── ClientGone        the caller disconnected before sending its whole body
"""

from __future__ import annotations

import errno
from typing import ClassVar

from wharf.error_codes import ErrorCode


class GatewayError(Exception):
    """Base class: a platform error with an HTTP status and a stable code."""

    status: int = 500
    code: ErrorCode = ErrorCode.INTERNAL
    headers: ClassVar[dict[str, str] | None] = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthorized(GatewayError):
    status, code = 401, ErrorCode.UNAUTHORIZED
    headers: ClassVar[dict[str, str] | None] = {"www-authenticate": 'Bearer realm="wharf"'}


class Forbidden(GatewayError):
    status, code = 403, ErrorCode.FORBIDDEN


class NotFound(GatewayError):
    status, code = 404, ErrorCode.NOT_FOUND


class InvalidRequest(GatewayError):
    status, code = 400, ErrorCode.INVALID_REQUEST


class PayloadTooLarge(GatewayError):
    status, code = 413, ErrorCode.PAYLOAD_TOO_LARGE

    def __init__(self, limit_bytes: int, message: str | None = None) -> None:
        super().__init__(message or f"the request body is over the limit of {limit_bytes} bytes")
        self.limit_bytes = limit_bytes


class NotAcceptable(GatewayError):
    status, code = 406, ErrorCode.NOT_ACCEPTABLE


class Conflict(GatewayError):
    status, code = 409, ErrorCode.CONFLICT


class MethodNotAllowed(GatewayError):
    status, code = 405, ErrorCode.METHOD_NOT_ALLOWED


class RateLimited(GatewayError):
    status, code = 429, ErrorCode.RATE_LIMITED

    def __init__(
        self,
        retry_after_s: int,
        headers: dict[str, str],
        what: str = "the workspace is over its rate limit",
    ) -> None:
        super().__init__(f"{what}; retry in {retry_after_s} s")
        self.headers = {"retry-after": str(retry_after_s), **headers}  # type: ignore[misc]


class BacklogFull(GatewayError):
    status, code = 429, ErrorCode.BACKLOG_FULL
    headers: ClassVar[dict[str, str] | None] = {"retry-after": "1"}

    def __init__(self, function_name: str, limit: int) -> None:
        super().__init__(
            f"{limit} inputs of {function_name!r} already wait; retry later, or raise its "
            "max_containers so they drain faster"
        )
        self.function_name = function_name


class TooManyPools(GatewayError):
    status, code = 429, ErrorCode.TOO_MANY_POOLS
    headers: ClassVar[dict[str, str] | None] = {"retry-after": "5"}

    def __init__(self, function_name: str, limit: int) -> None:
        super().__init__(
            f"{function_name!r} already runs {limit} parameter sets or option variants at once; "
            "retry when some are idle, or use fewer distinct parameter values"
        )


class OutputExpired(GatewayError):
    status, code = 410, ErrorCode.OUTPUT_EXPIRED

    def __init__(self, call_id: str) -> None:
        super().__init__(f"the result of call {call_id} has expired and is no longer kept")
        self.call_id = call_id


class InsufficientStorage(GatewayError):
    status, code = 507, ErrorCode.INSUFFICIENT_STORAGE

    def __init__(self) -> None:
        super().__init__(
            "the gateway's disk is full, so nothing was accepted; try again once its operator "
            "has freed space (the gateway takes requests again by itself)"
        )


class Internal(GatewayError):
    status, code = 500, ErrorCode.INTERNAL


class NoCapacity(GatewayError):
    status, code = 503, ErrorCode.NO_CAPACITY


class BuildFailed(InvalidRequest):
    code = ErrorCode.IMAGE_BUILD_FAILED


class Superseded(GatewayError):
    status, code = 409, ErrorCode.CONFLICT


class WindowFull(GatewayError):
    status, code = 429, ErrorCode.MAP_WINDOW_FULL
    headers: ClassVar[dict[str, str] | None] = {"retry-after": "1"}

    def __init__(self, limit: int, what: str = "inputs that are running or unread") -> None:
        super().__init__(
            f"this map already holds {limit} {what}; read its outputs before sending more"
        )


class TooManyMaps(GatewayError):
    status, code = 429, ErrorCode.TOO_MANY_MAPS
    headers: ClassVar[dict[str, str] | None] = {"retry-after": "1"}

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"this workspace already has {limit} maps open; finish or leave one before "
            "starting another"
        )


class TooManyStreams(GatewayError):
    status, code = 429, ErrorCode.TOO_MANY_LOG_STREAMS
    headers: ClassVar[dict[str, str] | None] = {"retry-after": "5"}

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"this workspace already has {limit} live log streams open; close one first"
        )


class SecretUnreadable(GatewayError):
    """A sealed secret does not open with this gateway's key (replaced key, damaged row)."""

    status, code = 500, ErrorCode.INTERNAL

    def __init__(self, name: str) -> None:
        super().__init__(
            f"secret {name!r} cannot be decrypted with this gateway's key (was the key file "
            "replaced?); create it again"
        )
        self.name = name


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the variable."""


class StoreError(Exception):
    """A read or write failed, or the database would not open; sqlite's own errors stay
    inside the storage folder."""


class StoreConflict(StoreError):
    """A write broke a uniqueness rule."""


class StoreFull(StoreError):
    """The disk (or the database) has no room for a write; nothing of it was kept."""


class WebUnavailable(Exception):
    """No container could take a web request (its start failed, or its app was stopped)."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class UpstreamError(Exception):
    """The container's server refused, reset, closed early or spoke nonsense."""


class ClientGone(Exception):
    """The caller disconnected before sending its whole body."""

    def __init__(self) -> None:
        super().__init__("the caller disconnected before sending its whole body")


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` (or what caused it) says the disk had no room: the database's or a
    blob's write."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, StoreFull):
            return True
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
