"""How Python values travel: cloudpickle out, pickle in (only ever in the caller or a container).

Part of the contract between the SDK and the runner: the agent inside each container decodes
arguments and encodes results with these functions (the gateway never unpickles).
"""

from __future__ import annotations

import base64
import pickle
from typing import Any

import cloudpickle

from wharf._errors import RemoteError


def serialize(value: object) -> bytes:
    return bytes(cloudpickle.dumps(value))


def deserialize(data: bytes) -> Any:
    return pickle.loads(data)  # noqa: S301 - only data our own caller or container produced


def serialize_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bytes:
    return serialize((args, kwargs))


def rebuild_exception(error: dict[str, Any]) -> BaseException:
    """The remote exception as the same type where it can be rebuilt, else a `RemoteError`.

    The remote traceback is attached as a note, so it prints under the local one.
    """
    type_name = str(error.get("type", "Exception"))
    # The gateway's message reads "Type: message"; the type is carried separately here.
    message = str(error.get("message", "")).removeprefix(f"{type_name}: ")
    exception: BaseException | None = None
    encoded = error.get("exception_pickle")
    if isinstance(encoded, str):
        try:
            candidate = deserialize(base64.b64decode(encoded))
        except Exception:
            candidate = None
        if isinstance(candidate, BaseException):
            exception = candidate
    if exception is None:
        exception = RemoteError(type_name, message)
    traceback_text = str(error.get("traceback") or "")
    if traceback_text:
        exception.add_note(f"\nRemote traceback:\n{traceback_text.rstrip()}")
    return exception
