"""Payload blobs: a call's arguments or result over 2 MiB, sent and read as a stream.

A blob is named by the SHA-256 of its bytes (`PUT /v1/blobs/{sha256}`), so the same bytes are
stored once; a call then names it in its `wharf-payload-blob` header instead of carrying it.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from wharf_gateway.api.common import path_param
from wharf_gateway.errors import NotFound
from wharf_gateway.responses import BlobResponse, json_response
from wharf_gateway.server.state import principal_of, state_of
from wharf_gateway.storage.blobs import blob_too_large, check_sha256

BLOB_CONTENT_TYPE = "application/octet-stream"


async def put_blob(request: Request) -> Response:
    """Store a blob (streamed; at most `--max-blob-mb`), checked against its name:
    201 `{"sha256", "size"}`; 400 (not its SHA-256), 401, 413."""
    principal = await principal_of(request)
    state = state_of(request)
    sha256 = check_sha256(path_param(request, "sha256"))
    limit = state["config"].max_blob_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise blob_too_large(limit, int(declared))
    size = await state["blobs"].receive(principal.workspace_id, sha256, request.stream(), limit)
    return json_response({"sha256": sha256, "size": size}, 201)


async def blob_info(request: Request) -> Response:
    """Whether this workspace has the blob already (so it need not be sent again):
    200 `{"sha256", "stored", "size"}`; 400, 401."""
    principal = await principal_of(request)
    sha256 = check_sha256(path_param(request, "sha256"))
    size = await state_of(request)["blobs"].claim(principal.workspace_id, sha256)
    return json_response({"sha256": sha256, "stored": size is not None, "size": size})


async def get_blob(request: Request) -> Response:
    """A blob's bytes, streamed from disk: 200; 400, 401, 404 (not this workspace's)."""
    principal = await principal_of(request)
    blobs = state_of(request)["blobs"]
    sha256 = check_sha256(path_param(request, "sha256"))
    if await blobs.size_of(principal.workspace_id, sha256) is None:
        raise NotFound(f"no blob {sha256} in this workspace")
    return BlobResponse(blobs.path_of(sha256), media_type=BLOB_CONTENT_TYPE)


ROUTES = [
    Route("/v1/blobs/{sha256}", put_blob, methods=["PUT"]),
    Route("/v1/blobs/{sha256}", get_blob, methods=["GET"]),
    Route("/v1/blobs/{sha256}/info", blob_info, methods=["GET"]),
]
