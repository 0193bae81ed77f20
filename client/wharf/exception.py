"""Exceptions raised by the Wharf client (`wharf.exception.NotFoundError`, ...); the gateway's
error codes they stand for are `wharf.error_codes.ErrorCode`."""

from __future__ import annotations

from wharf._errors import (
    AuthError,
    ClientError,
    ConnectionError,
    Error,
    ExecutionError,
    FunctionTimeoutError,
    InputCancellation,
    InvalidError,
    NoCapacityError,
    NotFoundError,
    OutputExpiredError,
    RateLimitError,
    RemoteError,
    ServerError,
)

__all__ = [
    "AuthError",
    "ClientError",
    "ConnectionError",
    "Error",
    "ExecutionError",
    "FunctionTimeoutError",
    "InputCancellation",
    "InvalidError",
    "NoCapacityError",
    "NotFoundError",
    "OutputExpiredError",
    "RateLimitError",
    "RemoteError",
    "ServerError",
]
