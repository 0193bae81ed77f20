"""Payloads over 2 MiB travel as blobs: sent once to the gateway under their SHA-256, then
named by calls (and map inputs) instead of carried in their requests."""

from __future__ import annotations

import dataclasses
import hashlib

from wharf._errors import InvalidError
from wharf._http import ApiRequest, Flow

#: Payloads up to this size travel inside their request.
INLINE_PAYLOAD_BYTES = 2 * 1024 * 1024
#: The largest arguments or result the gateway takes by default (`--max-blob-mb`): 1 GiB of
#: data, and a MiB for its encoding.
MAX_PAYLOAD_BYTES = 1025 * 1024 * 1024
#: Names the blob that holds a call's arguments, sent instead of a body.
PAYLOAD_BLOB_HEADER = "wharf-payload-blob"


def blob_path(sha256: str) -> str:
    return f"/v1/blobs/{sha256}"


def upload(data: bytes, what: str) -> Flow[str]:
    """Store `data` as a blob of the workspace, unless it is there already; returns its name.

    Raises:
        InvalidError: `data` is over `MAX_PAYLOAD_BYTES`.
    """
    if len(data) > MAX_PAYLOAD_BYTES:
        raise InvalidError(
            f"{what}: {len(data):,} bytes once encoded is over the limit of "
            f"{MAX_PAYLOAD_BYTES:,} bytes; store the data elsewhere and pass a reference"
        )
    sha256 = hashlib.sha256(data).hexdigest()
    info = yield ApiRequest("GET", f"{blob_path(sha256)}/info")
    if not info.json().get("stored"):
        yield ApiRequest(
            "PUT",
            blob_path(sha256),
            content=data,
            headers={"content-type": "application/octet-stream"},
        )
    return sha256


def download(sha256: str) -> Flow[bytes]:
    """A blob's bytes."""
    response = yield ApiRequest("GET", blob_path(sha256))
    return response.content


def with_payload_blob(request: ApiRequest) -> Flow[ApiRequest]:
    """`request` as is, or, when its body is over `INLINE_PAYLOAD_BYTES`, with the body sent
    as a blob first and named in its `wharf-payload-blob` header."""
    content = request.content
    if content is None or len(content) <= INLINE_PAYLOAD_BYTES:
        return request
    sha256 = yield from upload(content, "the call's arguments")
    headers = {**request.headers, PAYLOAD_BLOB_HEADER: sha256}
    return dataclasses.replace(request, content=b"", headers=headers)
