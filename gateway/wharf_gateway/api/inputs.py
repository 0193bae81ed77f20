"""Batches of inputs in one request (a map's, or `spawn_map`'s): a frame whose JSON head is
`{"sizes": [...], "blobs": [...]}`, then each input's payload; an input whose `blobs` entry
names a blob of the workspace takes its payload from there (and its size is 0)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from wharf_runner import PayloadFormat, ProtocolError, decode_frame, split_frame_parts

from wharf_gateway.api.common import read_body
from wharf_gateway.calls.arguments import check_json_arguments
from wharf_gateway.errors import InvalidRequest
from wharf_gateway.models import FunctionRecord
from wharf_gateway.server.state import state_of
from wharf_gateway.storage.blobs import check_sha256

#: Most inputs one request may carry.
MAX_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class InputBatch:
    head: dict[str, object]
    payloads: list[bytes]
    #: Per input, the blob holding its payload, or None; None when no input is a blob.
    blobs: list[str | None] | None
    #: Per input, the size of its blob, or None.
    blob_bytes: list[int | None]

    def blob_of(self, position: int) -> str | None:
        return None if self.blobs is None else self.blobs[position]

    def check_json(self, function: FunctionRecord, method: str | None) -> None:
        """Check each JSON payload against the function (those in blobs are checked in the
        container, which reads them)."""
        for position, payload in enumerate(self.payloads):
            if self.blob_of(position) is None:
                check_json_arguments(payload, function, method)


async def read_input_batch(request: Request, workspace_id: str) -> InputBatch:
    """The request's input frame.

    Raises:
        InvalidRequest: not a frame, bad sizes, or a blob the workspace has not stored.
        PayloadTooLarge: over `--max-body-mb`.
    """
    state = state_of(request)
    body = await read_body(request, state["config"].max_body_bytes)
    try:
        head, rest = decode_frame(body)
    except ProtocolError as exc:
        raise InvalidRequest(f"the body is not an input frame: {exc}") from exc
    sizes = head.get("sizes")
    if (
        not isinstance(sizes, list)
        or len(sizes) > MAX_BATCH
        or not all(isinstance(size, int) and size >= 0 for size in sizes)
        or sum(sizes) != len(rest)
    ):
        raise InvalidRequest(
            f'the frame head must be {{"sizes": [...]}}: up to {MAX_BATCH} byte counts that '
            "add up to the payloads that follow"
        )
    blobs = head.get("blobs")
    blob_bytes: list[int | None] = [None] * len(sizes)
    if blobs is not None:
        if not isinstance(blobs, list) or len(blobs) != len(sizes):
            raise InvalidRequest('"blobs" must list a blob name or null for each input')
        for position, blob in enumerate(blobs):
            if blob is None:
                continue
            if not isinstance(blob, str):
                raise InvalidRequest('"blobs" must list a blob name or null for each input')
            blob_bytes[position] = await state["blobs"].claim(workspace_id, check_sha256(blob))
            if blob_bytes[position] is None:
                raise InvalidRequest(f"no blob {blob} in this workspace: PUT it to /v1/blobs first")
    return InputBatch(head, split_frame_parts(rest, sizes), blobs, blob_bytes)


def payload_format_of(batch: InputBatch) -> PayloadFormat:
    """The head's `"format"`: `"pickle"` (the default) or `"json"`."""
    raw = batch.head.get("format", "pickle")
    if raw not in ("pickle", "json"):
        raise InvalidRequest(f'"format" must be "pickle" or "json", not {raw!r}')
    return PayloadFormat(str(raw))
