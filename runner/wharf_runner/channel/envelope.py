"""What travels between gateway and agent: one input in, one output back.

An input's payload is either JSON (`{"args": [...], "kwargs": {...}}`) or the cloudpickled
`(args, kwargs)` of a Python caller; the gateway passes both through opaquely. An output carries
the value (or the exception) pickled for Python callers and, where it can be, as JSON too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from wharf_runner.channel.wire import decode_frame, encode_frame
from wharf_runner.errors import ProtocolError

#: A blob's name: the SHA-256 of its bytes.
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PayloadFormat(StrEnum):
    """How arguments were encoded by the caller."""

    #: `{"args": [...], "kwargs": {...}}` as JSON.
    JSON = "json"
    #: cloudpickle of the tuple `(args, kwargs)`.
    PICKLE = "pickle"


class OutputStatus(StrEnum):
    """How an input ended inside the container."""

    #: The function returned a value.
    SUCCESS = "success"
    #: The function (or decoding its arguments) raised.
    FAILURE = "failure"


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A user exception described for any caller."""

    type: str
    message: str
    traceback: str

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "message": self.message, "traceback": self.traceback}


@dataclass(frozen=True, slots=True)
class Input:
    """One attempt at running one call."""

    input_id: str
    call_id: str
    function_name: str
    payload_format: PayloadFormat
    payload: bytes
    #: Also encode the result as JSON (the caller, or a later reader, is not Python).
    wants_json: bool
    #: Also pickle the result (a Python caller).
    wants_pickle: bool
    #: The payload is a blob of the gateway's, named by its SHA-256 (and `payload` is empty).
    payload_blob: str | None = None


@dataclass(frozen=True, slots=True)
class Output:
    """The outcome of one input."""

    status: OutputStatus
    #: cloudpickle of the value, or of the exception on failure.
    pickled: bytes | None
    #: The value as JSON; None when it was not asked for or cannot be encoded.
    json: bytes | None
    #: Why the value has no JSON form, in a sentence.
    json_error: str | None
    error: ErrorInfo | None
    #: The value is a blob of the gateway's, named by its SHA-256 (and `pickled`/`json` None).
    pickled_blob: str | None = None
    json_blob: str | None = None


def _input_head(item: Input) -> dict[str, Any]:
    head: dict[str, Any] = {
        "input_id": item.input_id,
        "call_id": item.call_id,
        "function": item.function_name,
        "format": item.payload_format.value,
        "wants_json": item.wants_json,
        "wants_pickle": item.wants_pickle,
    }
    if item.payload_blob is not None:
        head["payload_blob"] = item.payload_blob
    return head


def _input_of(head: dict[str, Any], payload: bytes) -> Input:
    blob = head.get("payload_blob")
    return Input(
        input_id=str(head["input_id"]),
        call_id=str(head["call_id"]),
        function_name=str(head["function"]),
        payload_format=PayloadFormat(str(head["format"])),
        payload=payload,
        wants_json=bool(head["wants_json"]),
        wants_pickle=bool(head["wants_pickle"]),
        payload_blob=None if blob is None else str(blob),
    )


def encode_input(item: Input) -> bytes:
    return encode_frame(_input_head(item), (item.payload,))


def decode_input(body: bytes) -> Input:
    head, rest = decode_frame(body)
    try:
        return _input_of(head, bytes(rest))
    except (KeyError, ValueError) as exc:
        raise ProtocolError(f"input frame is missing or has a bad field: {exc}") from exc


def encode_output(output: Output) -> bytes:
    pickled = output.pickled or b""
    json_bytes = output.json or b""
    head: dict[str, Any] = {
        "status": output.status.value,
        "pickled_bytes": None if output.pickled is None else len(pickled),
        "json_bytes": None if output.json is None else len(json_bytes),
        "json_error": output.json_error,
        "error": None if output.error is None else output.error.to_json(),
    }
    if output.pickled_blob is not None:
        head["pickled_blob"] = output.pickled_blob
    if output.json_blob is not None:
        head["json_blob"] = output.json_blob
    return encode_frame(head, (pickled, json_bytes))


def _part_length(value: object, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ProtocolError(f"output frame has a bad {name}: {value!r}")
    return value


def _blob_name(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ProtocolError(f"output frame has a bad blob name: {value!r:.100}")
    return value


def decode_output(body: bytes) -> Output:
    head, rest = decode_frame(body)
    try:
        pickled_length = _part_length(head["pickled_bytes"], "pickled_bytes")
        json_length = _part_length(head["json_bytes"], "json_bytes")
        if (pickled_length or 0) + (json_length or 0) != len(rest):
            raise ProtocolError("output frame parts do not add up to its body")
        pickled = None if pickled_length is None else bytes(rest[:pickled_length])
        json_bytes = None if json_length is None else bytes(rest[pickled_length or 0 :])
        error = head["error"]
        return Output(
            status=OutputStatus(str(head["status"])),
            pickled=pickled,
            json=json_bytes,
            json_error=None if head["json_error"] is None else str(head["json_error"]),
            error=None if not isinstance(error, dict) else ErrorInfo(**error),
            pickled_blob=_blob_name(head.get("pickled_blob")),
            json_blob=_blob_name(head.get("json_blob")),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ProtocolError(f"output frame is missing or has a bad field: {exc}") from exc


def encode_inputs(items: list[Input]) -> bytes:
    """Several inputs in one frame: each one's head, then all their payloads in order."""
    heads = [{**_input_head(item), "size": len(item.payload)} for item in items]
    return encode_frame({"inputs": heads}, [item.payload for item in items])


def decode_inputs(body: bytes) -> list[Input]:
    head, rest = decode_frame(body)
    heads = head.get("inputs")
    if not isinstance(heads, list):
        raise ProtocolError("batch frame has no input list")
    items, offset = [], 0
    try:
        for item in heads:
            size = _part_length(item["size"], "size") or 0
            items.append(_input_of(item, bytes(rest[offset : offset + size])))
            offset += size
    except (KeyError, ValueError, TypeError) as exc:
        raise ProtocolError(f"batch frame has a bad input: {exc}") from exc
    if offset != len(rest):
        raise ProtocolError("batch frame payloads do not add up to its body")
    return items


def encode_outputs(outputs: list[Output], busy_s: float) -> bytes:
    """Several outputs in one frame, in the order of their inputs, with the seconds the
    function ran for them in all."""
    parts = [encode_output(output) for output in outputs]
    return encode_frame({"outputs": [len(part) for part in parts], "busy_s": busy_s}, parts)


def decode_outputs(body: bytes) -> tuple[list[Output], float]:
    """The outputs of a batch, and the seconds the function ran for them."""
    head, rest = decode_frame(body)
    sizes = head.get("outputs")
    if not isinstance(sizes, list):
        raise ProtocolError("batch frame has no output list")
    outputs, offset = [], 0
    for size in sizes:
        length = _part_length(size, "output size") or 0
        outputs.append(decode_output(bytes(rest[offset : offset + length])))
        offset += length
    if offset != len(rest):
        raise ProtocolError("batch frame outputs do not add up to its body")
    busy_s = head.get("busy_s")
    if not isinstance(busy_s, int | float) or busy_s < 0:
        raise ProtocolError(f"batch frame has a bad busy_s {busy_s!r}")
    return outputs, float(busy_s)
