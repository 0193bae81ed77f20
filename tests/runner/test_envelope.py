"""Inputs and outputs as they travel between gateway and agent."""

from __future__ import annotations

from typing import Any

import pytest
from wharf_runner.channel.envelope import (
    ErrorInfo,
    Input,
    Output,
    OutputStatus,
    PayloadFormat,
    decode_input,
    decode_output,
    encode_input,
    encode_output,
)
from wharf_runner.channel.wire import encode_frame
from wharf_runner.errors import ProtocolError

ERROR = ErrorInfo("ValueError", "bad cart", "Traceback (most recent call last):\n...")


@pytest.mark.parametrize("payload_format", list(PayloadFormat))
@pytest.mark.parametrize("payload", [b"", b'{"args": [1]}', b"\x80\x05\x00"])
def test_input_round_trips(payload_format: PayloadFormat, payload: bytes) -> None:
    item = Input("in-1", "fc-1", "checkout", payload_format, payload, True, False)

    assert decode_input(encode_input(item)) == item


@pytest.mark.parametrize(
    "output",
    [
        Output(OutputStatus.SUCCESS, b"\x80pickled", b'{"total": 3}', None, None),
        Output(OutputStatus.SUCCESS, None, b"[1,2]", None, None),
        Output(OutputStatus.SUCCESS, b"\x80pickled", None, "cannot be encoded as JSON", None),
        Output(OutputStatus.SUCCESS, None, None, None, None),
        Output(OutputStatus.SUCCESS, b"", b"", None, None),
        Output(OutputStatus.FAILURE, b"\x80exception", None, None, ERROR),
        Output(OutputStatus.FAILURE, None, None, None, ERROR),
    ],
)
def test_output_round_trips_keeping_absent_parts_none(output: Output) -> None:
    assert decode_output(encode_output(output)) == output


def _input_head(**overrides: Any) -> dict[str, Any]:
    head = {
        "input_id": "in-1",
        "call_id": "fc-1",
        "function": "checkout",
        "format": "json",
        "wants_json": True,
        "wants_pickle": False,
    }
    return {**head, **overrides}


def _output_head(**overrides: Any) -> dict[str, Any]:
    head = {
        "status": "success",
        "pickled_bytes": None,
        "json_bytes": 2,
        "json_error": None,
        "error": None,
    }
    return {**head, **overrides}


@pytest.mark.parametrize(
    "head",
    [
        {k: v for k, v in _input_head().items() if k != "call_id"},
        _input_head(format="xml"),
    ],
)
def test_bad_input_frame_raises_protocol_error(head: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError, match="input frame is missing or has a bad field"):
        decode_input(encode_frame(head, (b"{}",)))


@pytest.mark.parametrize(
    "head",
    [
        {k: v for k, v in _output_head().items() if k != "status"},
        _output_head(status="maybe"),
        _output_head(pickled_bytes="many"),
        _output_head(error={"type": "ValueError"}),
        _output_head(error={**ERROR.to_json(), "extra": 1}),
    ],
)
def test_bad_output_frame_raises_protocol_error(head: dict[str, Any]) -> None:
    with pytest.raises(ProtocolError, match="output frame"):
        decode_output(encode_frame(head, (b"{}",)))


def test_input_that_is_not_a_frame_raises_protocol_error() -> None:
    with pytest.raises(ProtocolError):
        decode_input(b"{}")


def test_output_frame_shorter_than_its_declared_parts_raises_protocol_error() -> None:
    body = encode_frame(_output_head(pickled_bytes=100, json_bytes=None), (b"abc",))

    with pytest.raises(ProtocolError):
        decode_output(body)
