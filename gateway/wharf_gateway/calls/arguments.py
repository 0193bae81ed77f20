"""Checking call arguments before a call is accepted: JSON ones against the function's
signature, pickled ones for their framing only (the gateway never unpickles them)."""

from __future__ import annotations

from typing import Any

import orjson

from wharf_gateway.errors import InvalidRequest
from wharf_gateway.manifest.classes import method_params
from wharf_gateway.manifest.schema import signature_of
from wharf_gateway.models import FunctionRecord

#: The first byte of a pickle of protocol 2 or later (cloudpickle writes 5), and its last.
_PICKLE_PROTO = 0x80
_PICKLE_STOP = b"."


def check_pickled_arguments(body: bytes) -> None:
    """Raise `InvalidRequest` unless `body` is framed as one pickle: a protocol header (2 to 5)
    and the STOP opcode at its end. Its contents are read only in containers."""
    if (
        len(body) < 3
        or body[0] != _PICKLE_PROTO
        or not 2 <= body[1] <= 5
        or body[-1:] != _PICKLE_STOP
    ):
        raise InvalidRequest(
            "the body is not a pickle: with Content-Type: application/x-python-pickle send the "
            "cloudpickled (args, kwargs) tuple (protocol 2 or later); other callers send JSON "
            '{"args": [...], "kwargs": {...}}'
        )


def check_json_arguments(
    body: bytes, function: FunctionRecord, method: str | None = None
) -> dict[str, Any] | None:
    """Raise `InvalidRequest` unless `body` is `{"args": [...], "kwargs": {...}}` that binds
    to the function (or to the class's `method`); returns its `"parameters"` object, which
    calls of a class's methods may carry.

    An empty body means no arguments.
    """
    try:
        decoded: Any = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(decoded, dict):
        raise InvalidRequest('the body must be a JSON object like {"args": [...], "kwargs": {}}')
    unknown = set(decoded) - {"args", "kwargs", "parameters"}
    if unknown:
        raise InvalidRequest(
            f'unknown keys in the body: {", ".join(sorted(unknown))}; expected "args" and "kwargs"'
        )
    args = decoded.get("args", [])
    kwargs = decoded.get("kwargs", {})
    if not isinstance(args, list):
        raise InvalidRequest(f'"args" must be a JSON array, not {type(args).__name__}')
    if not isinstance(kwargs, dict):
        raise InvalidRequest(f'"kwargs" must be a JSON object, not {type(kwargs).__name__}')
    parameters = decoded.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise InvalidRequest('"parameters" must be a JSON object of the class\'s parameters')
    signature = signature_of(method_params(function, method))
    try:
        signature.bind(*args, **kwargs)
    except TypeError as exc:
        name = function.name if method is None else f"{function.name}.{method}"
        raise InvalidRequest(f"{name}(): {exc}") from exc
    return parameters
