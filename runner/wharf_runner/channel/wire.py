"""The gateway-agent channel: a small subset of HTTP/1.1 over a kept-alive connection.

Both ends are ours, so only what they use is spoken: `Content-Length` bodies, keep-alive, one
request in flight per connection. Anything else is a protocol error and closes the connection.
Frames carry a length-prefixed JSON head followed by opaque payload parts, so no user data ever
has to fit into an HTTP header.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from wharf.frames import pack_frame, split_parts, unpack_frame

from wharf_runner.errors import ProtocolError

#: Largest request or status line plus headers we accept.
MAX_HEAD_BYTES = 64 * 1024
#: The StreamReader limit for both ends; `readuntil` fails past it.
STREAM_LIMIT_BYTES = MAX_HEAD_BYTES + 1024
_HEAD_END = b"\r\n\r\n"


@dataclass(frozen=True, slots=True)
class Message:
    """One HTTP/1.1 request or response: its first line, lower-cased headers and body."""

    start_line: str
    headers: dict[str, str]
    body: bytes


async def read_message(reader: asyncio.StreamReader, max_body_bytes: int) -> Message | None:
    """Read one message; None when the peer closed the connection between messages."""
    try:
        head = await reader.readuntil(_HEAD_END)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise ProtocolError("connection closed in the middle of a message head") from exc
    except asyncio.LimitOverrunError as exc:
        raise ProtocolError(f"message head is over {MAX_HEAD_BYTES} bytes") from exc
    lines = head[: -len(_HEAD_END)].decode("latin-1").split("\r\n")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = _content_length(headers, max_body_bytes)
    try:
        body = await reader.readexactly(length) if length else b""
    except asyncio.IncompleteReadError as exc:
        raise ProtocolError("connection closed in the middle of a message body") from exc
    return Message(lines[0], headers, body)


def _content_length(headers: dict[str, str], max_body_bytes: int) -> int:
    raw = headers.get("content-length", "0")
    if not (raw.isascii() and raw.isdigit()):
        raise ProtocolError(f"bad content-length {raw!r}")
    length = int(raw)
    if length > max_body_bytes:
        raise ProtocolError(f"body of {length} bytes is over the limit of {max_body_bytes}")
    return length


def encode_message(start_line: str, headers: dict[str, str], body: bytes) -> bytes:
    """Serialise one message with a `content-length` header added."""
    lines = [start_line, *(f"{name}: {value}" for name, value in headers.items())]
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def encode_frame(head: object, parts: Sequence[bytes] = ()) -> bytes:
    """A body made of a JSON head (length-prefixed) followed by raw parts."""
    return pack_frame(head, parts)


def split_frame_parts(rest: memoryview, sizes: Sequence[int]) -> list[bytes]:
    """A frame's parts by their sizes, which must add up to what follows its head."""
    try:
        return split_parts(rest, sizes)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from exc


def decode_frame(body: bytes) -> tuple[dict[str, object], memoryview]:
    """Split a frame into its JSON head and the bytes that follow it."""
    try:
        return unpack_frame(body)
    except ValueError as exc:
        raise ProtocolError(str(exc)) from exc
