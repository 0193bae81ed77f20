"""The exceptions of the Wharf client.

ClientError (also exported as `Error`)
├── AuthError             the gateway refused the token (401), or it may not do this (403)
├── NotFoundError         no such app, function or call (404)
├── InvalidError          a bad request or option (400, 405, 406, 413), or a name in use (409)
├── ExecutionError        the call could not run as asked (not deployed, terminated, startup failed)
│   ├── InputCancellation     the call was cancelled
│   ├── FunctionTimeoutError  an input ran past the function's timeout (also a TimeoutError)
│   └── RemoteError           the remote exception's type could not be rebuilt here
├── OutputExpiredError    the result was kept and has since expired (410)
├── RateLimitError        the workspace is over its rate limit (429), after the client's retries
├── NoCapacityError       no runner can ever host the function (503)
├── ServerError           the gateway failed (500, 502, 504)
└── ConnectionError       the gateway could not be reached
"""

from __future__ import annotations

import builtins

from wharf.error_codes import ErrorCode, parse_error_code


class ClientError(Exception):
    """Base class of every error raised by the Wharf client."""


Error = ClientError


class AuthError(ClientError):
    """The gateway did not accept the credentials."""


class NotFoundError(ClientError):
    """The app, function or call does not exist (or belongs to another workspace)."""


class InvalidError(ClientError):
    """A request, argument or option is not valid."""


class ExecutionError(ClientError):
    """A call could not be executed as asked."""


class InputCancellation(ExecutionError):
    """The call was cancelled before it produced a result."""


class FunctionTimeoutError(ExecutionError, TimeoutError):
    """An input ran longer than the function's `timeout` and was stopped."""


class RemoteError(ExecutionError):
    """A remote exception whose type is not importable here, carried by type name and message."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.remote_message = message


class OutputExpiredError(ClientError):
    """The call finished, but its result is older than the gateway keeps results."""


class RateLimitError(ClientError):
    """The workspace went over its rate limit and stayed over it through the client's retries."""


class NoCapacityError(ClientError):
    """No runner can host the function as configured."""


class ServerError(ClientError):
    """The gateway failed to handle the request."""


class ConnectionError(ClientError, builtins.ConnectionError):
    """The gateway could not be reached."""


#: Each gateway error code and the exception it becomes in Python. A 429 is always a
#: `RateLimitError`; a `function_failed` body is rebuilt into the user's own exception instead.
ERROR_CODE_CLASSES: dict[ErrorCode, type[ClientError]] = {
    ErrorCode.UNAUTHORIZED: AuthError,
    ErrorCode.FORBIDDEN: AuthError,
    ErrorCode.NOT_FOUND: NotFoundError,
    ErrorCode.INVALID_REQUEST: InvalidError,
    ErrorCode.IMAGE_BUILD_FAILED: InvalidError,
    ErrorCode.PAYLOAD_TOO_LARGE: InvalidError,
    ErrorCode.HEADERS_TOO_LARGE: InvalidError,
    ErrorCode.NOT_ACCEPTABLE: InvalidError,
    ErrorCode.RESULT_NOT_JSON: InvalidError,
    ErrorCode.CONFLICT: InvalidError,
    ErrorCode.METHOD_NOT_ALLOWED: InvalidError,
    ErrorCode.HTTP_ERROR: ServerError,
    ErrorCode.RATE_LIMITED: RateLimitError,
    ErrorCode.BACKLOG_FULL: RateLimitError,
    ErrorCode.TOO_MANY_POOLS: RateLimitError,
    ErrorCode.MAP_WINDOW_FULL: RateLimitError,
    ErrorCode.TOO_MANY_MAPS: RateLimitError,
    ErrorCode.TOO_MANY_LOG_STREAMS: RateLimitError,
    ErrorCode.OUTPUT_EXPIRED: OutputExpiredError,
    ErrorCode.NO_CAPACITY: NoCapacityError,
    ErrorCode.FUNCTION_FAILED: ExecutionError,
    ErrorCode.STARTUP_FAILED: ExecutionError,
    ErrorCode.FUNCTION_TIMEOUT: FunctionTimeoutError,
    ErrorCode.CALL_CANCELLED: InputCancellation,
    ErrorCode.CALL_TERMINATED: ExecutionError,
    ErrorCode.BAD_GATEWAY: ServerError,
    ErrorCode.INSUFFICIENT_STORAGE: ServerError,
    ErrorCode.INTERNAL: ServerError,
}


def error_from_code(code: str, message: str) -> ClientError:
    """The exception for a gateway error body; unknown codes become `ServerError`."""
    known = parse_error_code(code)
    return ServerError(message) if known is None else ERROR_CODE_CLASSES[known](message)
