"""Frames: a length-prefixed JSON head followed by raw parts, so batches of pickles travel in
one body without escaping. The agent channel (`wharf_runner.channel.wire`) and maps both use them.

Part of the contract between the SDK, the gateway and the runner: all three read and write
frames with these functions.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

_PREFIX_BYTES = 4


def pack_frame(head: object, parts: Sequence[bytes] = ()) -> bytes:
    head_bytes = orjson.dumps(head)
    return b"".join((len(head_bytes).to_bytes(_PREFIX_BYTES, "big"), head_bytes, *parts))


def unpack_frame(body: bytes) -> tuple[dict[str, object], memoryview]:
    """The JSON head and the bytes after it.

    Raises:
        ValueError: the body is not a frame.
    """
    if len(body) < _PREFIX_BYTES:
        raise ValueError("frame is shorter than its length prefix")
    head_length = int.from_bytes(body[:_PREFIX_BYTES], "big")
    end = _PREFIX_BYTES + head_length
    if end > len(body):
        raise ValueError("frame head runs past the end of the body")
    try:
        head = orjson.loads(body[_PREFIX_BYTES:end])
    except orjson.JSONDecodeError as exc:
        raise ValueError("frame head is not JSON") from exc
    if not isinstance(head, dict):
        raise ValueError("frame head is not a JSON object")
    return head, memoryview(body)[end:]


def split_parts(rest: memoryview, sizes: Sequence[int]) -> list[bytes]:
    """The parts of a frame's body, by their sizes (which must add up to it).

    Raises:
        ValueError: they do not.
    """
    parts, offset = [], 0
    for size in sizes:
        parts.append(bytes(rest[offset : offset + size]))
        offset += size
    if offset != len(rest):
        raise ValueError("the frame's parts do not add up to its body")
    return parts
