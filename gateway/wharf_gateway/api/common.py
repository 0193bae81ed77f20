"""Small helpers the route modules share."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request

from wharf_gateway.errors import InvalidRequest, PayloadTooLarge


async def read_body(request: Request, limit_bytes: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to pass `limit_bytes`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit_bytes:
        raise PayloadTooLarge(limit_bytes)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise PayloadTooLarge(limit_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def path_param(request: Request, name: str) -> str:
    return str(request.path_params[name])


def count_param(request: Request, name: str, default: int) -> int:
    """A query parameter that is a count (0 up to 2**63 - 1).

    Raises:
        InvalidRequest: anything else.
    """
    raw = request.query_params.get(name)
    if raw is None:
        return default
    return parse_count(name, raw)


def parse_count(name: str, raw: str) -> int:
    """`raw` as a count (0 up to 2**63 - 1), named `name` in the error.

    Raises:
        InvalidRequest: anything else.
    """
    if not (raw.isascii() and raw.isdigit()) or int(raw) >= 1 << 63:
        raise InvalidRequest(f"{name} must be a non-negative integer, not {raw!r}")
    return int(raw)


async def read_json_object(request: Request, limit_bytes: int) -> dict[str, Any]:
    """The request body as a JSON object (an empty body is `{}`).

    Raises:
        InvalidRequest: not JSON, or not an object.
        PayloadTooLarge: over `limit_bytes`.
    """
    return json_object_of(await read_body(request, limit_bytes))


def json_object_of(body: bytes) -> dict[str, Any]:
    """A request body read already, as a JSON object (an empty body is `{}`).

    Raises:
        InvalidRequest: not JSON, or not an object.
    """
    try:
        data = orjson.loads(body) if body.strip() else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidRequest("the request body must be a JSON object")
    return data


def wait_s_of(request: Request, request_timeout_s: float) -> float | None:
    raw = request.query_params.get("timeout_s")
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError as exc:
        raise InvalidRequest(f"timeout_s must be a number of seconds, not {raw!r}") from exc
    if not value >= 0:
        raise InvalidRequest("timeout_s cannot be negative")
    return min(value, request_timeout_s)
