"""A class's parameters on their way to its containers.

Part of the contract between the SDK, the gateway and the runner: a call names its pool by the
encoded parameters (`encode_values`), and the gateway hands each container of a class the
parameters of its pool, base64-encoded, in the environment variables below, which the agent
reads back with `read_environ`.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import orjson

from wharf._errors import InvalidError
from wharf.serialization import deserialize, serialize

#: The largest encoded parameter set (as in the reference).
MAX_PARAMETER_BYTES = 16 * 1024
#: Environment variables that hand a container its parameters.
PARAMETERS_ENV = "RUNNER_PARAMETERS"
PARAMETERS_FORMAT_ENV = "RUNNER_PARAMETERS_FORMAT"

#: Parameters as the agent hands them to `instantiate`: keywords, or a legacy `(args, kwargs)`.
Values = dict[str, Any] | tuple[tuple[Any, ...], dict[str, Any]]


class ParameterFormat(StrEnum):
    """How a parameter set is encoded."""

    #: A JSON object of str, int, float, bool or None values, by name.
    JSON = "json"
    #: A pickled `(args, kwargs)` pair: a legacy `__init__` with values of other types.
    PICKLE = "pickle"


def encode_values(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[ParameterFormat, bytes]:
    """`(format, bytes)` of a constructor's arguments: JSON where it can be, else pickle.

    Raises:
        InvalidError: the encoding is over `MAX_PARAMETER_BYTES`.
    """
    simple = not args and all(
        isinstance(value, str | int | float | bool) or value is None for value in kwargs.values()
    )
    if simple:
        encoded = (ParameterFormat.JSON, orjson.dumps(kwargs, option=orjson.OPT_SORT_KEYS))
    else:
        encoded = (ParameterFormat.PICKLE, serialize((args, kwargs)))
    if len(encoded[1]) > MAX_PARAMETER_BYTES:
        raise InvalidError(
            f"the parameters take {len(encoded[1])} bytes, over the limit of {MAX_PARAMETER_BYTES}"
        )
    return encoded


def decode_values(parameter_format: str, data: bytes) -> Values:
    """The parameters `encode_values` encoded as `(parameter_format, data)`."""
    if parameter_format == ParameterFormat.PICKLE:
        args, kwargs = deserialize(data)
        return tuple(args), dict(kwargs)
    return dict(orjson.loads(data))


def read_environ(environ: Mapping[str, str]) -> Values:
    """The parameters the gateway handed this container (none: an empty set)."""
    encoded = environ.get(PARAMETERS_ENV)
    if not encoded:
        return {}
    return decode_values(environ.get(PARAMETERS_FORMAT_ENV, ""), base64.b64decode(encoded))


__all__ = [
    "MAX_PARAMETER_BYTES",
    "PARAMETERS_ENV",
    "PARAMETERS_FORMAT_ENV",
    "ParameterFormat",
    "Values",
    "decode_values",
    "encode_values",
    "read_environ",
]
