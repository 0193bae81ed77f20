"""The gateway-agent channel: HTTP/1.1 messages over a stream, and length-prefixed frames."""

from __future__ import annotations

import asyncio

import pytest
from wharf_runner.channel.wire import (
    MAX_HEAD_BYTES,
    STREAM_LIMIT_BYTES,
    Message,
    decode_frame,
    encode_frame,
    encode_message,
    read_message,
)
from wharf_runner.errors import ProtocolError

MAX_BODY_BYTES = 1024


def _read_all(data: bytes, max_body_bytes: int = MAX_BODY_BYTES) -> list[Message | None]:
    """Every message read from a stream holding `data` and then closed, up to the first None."""

    async def main() -> list[Message | None]:
        reader = asyncio.StreamReader(limit=STREAM_LIMIT_BYTES)
        reader.feed_data(data)
        reader.feed_eof()
        messages: list[Message | None] = []
        while not messages or messages[-1] is not None:
            messages.append(await read_message(reader, max_body_bytes))
        return messages

    return asyncio.run(main())


def test_message_round_trips_through_a_stream() -> None:
    data = encode_message("POST /inputs HTTP/1.1", {"Host": "agent"}, b"\x00payload\xff")

    assert _read_all(data) == [
        Message(
            "POST /inputs HTTP/1.1",
            {"host": "agent", "content-length": "9"},
            b"\x00payload\xff",
        ),
        None,
    ]


def test_messages_on_a_kept_alive_connection_are_read_in_order() -> None:
    data = encode_message("GET /health HTTP/1.1", {}, b"") + encode_message(
        "HTTP/1.1 200 OK", {}, b"done"
    )

    first, second, end = _read_all(data)

    assert first is not None
    assert second is not None
    assert (first.start_line, first.body) == ("GET /health HTTP/1.1", b"")
    assert (second.start_line, second.body) == ("HTTP/1.1 200 OK", b"done")
    assert end is None


def test_message_without_content_length_has_an_empty_body() -> None:
    [message, _] = _read_all(b"GET /health HTTP/1.1\r\nX-Trace:  abc \r\n\r\n")

    assert message == Message("GET /health HTTP/1.1", {"x-trace": "abc"}, b"")


def test_clean_close_between_messages_reads_as_none() -> None:
    assert _read_all(b"") == [None]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"POST /inputs HTTP/1.1\r\ncontent-le", "in the middle of a message head"),
        (
            b"POST /inputs HTTP/1.1\r\ncontent-length: 10\r\n\r\nabc",
            "in the middle of a message body",
        ),
        (b"POST /inputs HTTP/1.1\r\ncontent-length: -1\r\n\r\n", "bad content-length '-1'"),
        (b"POST /inputs HTTP/1.1\r\ncontent-length: ten\r\n\r\n", "bad content-length 'ten'"),
        (b"POST /inputs HTTP/1.1\r\ncontent-length: 1025\r\n\r\n", "over the limit of 1024"),
        (b"GET / HTTP/1.1\r\nx-big: " + b"x" * STREAM_LIMIT_BYTES + b"\r\n\r\n", "head is over"),
        (b"x" * 2 * STREAM_LIMIT_BYTES, f"head is over {MAX_HEAD_BYTES} bytes"),
    ],
)
def test_malformed_message_raises_protocol_error(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        _read_all(data)


def test_body_at_the_limit_is_accepted() -> None:
    body = b"b" * MAX_BODY_BYTES

    [message, _] = _read_all(encode_message("HTTP/1.1 200 OK", {}, body))

    assert message is not None
    assert message.body == body


def test_content_length_of_non_ascii_digits_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        _read_all(b"POST /inputs HTTP/1.1\r\ncontent-length: \xb2\r\n\r\nab")


def test_frame_round_trips_its_head_and_parts() -> None:
    body = encode_frame({"status": "success", "sizes": [1, 2]}, (b"ab", b"", b"cde"))

    head, rest = decode_frame(body)

    assert head == {"status": "success", "sizes": [1, 2]}
    assert bytes(rest) == b"abcde"


def test_frame_without_parts_has_empty_rest() -> None:
    head, rest = decode_frame(encode_frame({}))

    assert (head, bytes(rest)) == ({}, b"")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"\x00\x00", "shorter than its length prefix"),
        (b"\x00\x00\x00\x10{}", "runs past the end of the body"),
        (b"\x00\x00\x00\x02{x", "frame head is not JSON"),
        (b"\x00\x00\x00\x02[]", "frame head is not a JSON object"),
    ],
)
def test_bad_frame_raises_protocol_error(body: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_frame(body)
