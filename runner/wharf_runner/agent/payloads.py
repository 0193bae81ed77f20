"""Payload blobs inside the container: arguments named by a blob are fetched from the gateway
before the function runs, and results over 2 MiB are sent there as blobs, not in the answer."""

from __future__ import annotations

import asyncio
import dataclasses

from wharf.container import INLINE_PAYLOAD_BYTES, MAX_PAYLOAD_BYTES, download_blob, upload_blob
from wharf.exception import ClientError

from wharf_runner.channel.envelope import Input, Output, OutputStatus


async def with_payload(item: Input) -> Input:
    """`item` with its arguments in hand (fetched, when they are a blob)."""
    if item.payload_blob is None:
        return item
    payload = await asyncio.to_thread(download_blob, item.payload_blob)
    return dataclasses.replace(item, payload=payload, payload_blob=None)


async def offload_value(output: Output) -> Output:
    """`output`, with a value over `INLINE_PAYLOAD_BYTES` (pickled or JSON) sent as a blob.

    Raises:
        client.exception.InvalidError: the value is over `MAX_PAYLOAD_BYTES`.
    """
    if output.status is not OutputStatus.SUCCESS:
        return output
    if output.pickled is not None and len(output.pickled) > INLINE_PAYLOAD_BYTES:
        sha256 = await _upload(output.pickled)
        output = dataclasses.replace(output, pickled=None, pickled_blob=sha256)
    if output.json is not None and len(output.json) > INLINE_PAYLOAD_BYTES:
        sha256 = await _upload(output.json)
        output = dataclasses.replace(output, json=None, json_blob=sha256)
    return output


async def _upload(data: bytes) -> str:
    try:
        return await asyncio.to_thread(upload_blob, data, "the result")
    except ClientError as exc:
        raise ValueError(f"the result could not be sent back: {exc}") from exc


__all__ = ["MAX_PAYLOAD_BYTES", "offload_value", "with_payload"]
