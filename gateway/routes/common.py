"""Small helpers the route modules share."""

from __future__ import annotations

from starlette.requests import Request

from gateway.errors import PayloadTooLarge


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
