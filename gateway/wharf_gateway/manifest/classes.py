"""Classes deployed with `@app.cls()`: their manifest shape, their methods, and the parameter
sets that pick a pool. Pure functions; the gateway never unpickles parameters (a legacy
`__init__` class's pickled ones pass through as opaque bytes)."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from wharf_gateway.errors import InvalidRequest
from wharf_gateway.manifest.definition import ClassShape, ParameterSpec
from wharf_gateway.manifest.schema import signature_of
from wharf_gateway.models import FunctionRecord

#: The largest encoded parameter set, as in the reference.
MAX_PARAMETER_BYTES = 16 * 1024


@dataclass(frozen=True, slots=True)
class Parameters:
    """A checked parameter set: `format` is "json" (canonical, defaults filled) or "pickle"."""

    format: str
    data: bytes


def class_shape(function: FunctionRecord) -> ClassShape | None:
    """The `class` part of a class's manifest entry; None for plain functions."""
    return function.definition.class_shape


def is_generator_call(function: FunctionRecord, method: str | None) -> bool:
    """Whether calls of the function (or the class's method) yield values one by one."""
    shape = class_shape(function)
    if method is not None and shape is not None:
        return bool(shape.methods.get(method, {}).get("is_generator"))
    return function.is_generator


def method_params(function: FunctionRecord, method: str | None) -> list[ParameterSpec]:
    """The parameter list calls of `method` bind to (the function's own for plain ones).

    Raises:
        InvalidRequest: a plain function called as a method, or an unknown method.
    """
    shape = class_shape(function)
    if method is None:
        if shape is not None and shape.web_method is None:
            known = ", ".join(sorted(shape.methods)) or "none"
            raise InvalidRequest(
                f"{function.name} is a class: call one of its methods ({known}) as "
                f"{function.name}.METHOD"
            )
        return list(function.definition.params)
    if shape is None or method not in shape.methods:
        known = ", ".join(sorted(shape.methods)) if shape else ""
        raise InvalidRequest(
            f"{function.name} has no method {method!r}" + (f" (it has: {known})" if known else "")
        )
    return list(shape.methods[method].get("params", []))


def parse_parameters_header(value: str) -> tuple[str, bytes]:
    """`json <base64url>` or `pickle <base64url>`, decoded.

    Raises:
        InvalidRequest: any other shape.
    """
    kind, _, encoded = value.partition(" ")
    if kind not in ("json", "pickle"):
        raise InvalidRequest('the wharf-parameters header must start with "json" or "pickle"')
    try:
        data = base64.b64decode(encoded.encode("ascii"), altchars=b"-_", validate=True)
    except (ValueError, binascii.Error) as exc:
        raise InvalidRequest(f"the wharf-parameters header is not base64: {exc}") from exc
    return kind, data


def check_parameters(function: FunctionRecord, kind: str, data: bytes) -> Parameters | None:
    """A call's parameter set, checked against the class and made canonical (so equal sets
    share a pool); None for a plain function called without any.

    Raises:
        InvalidRequest: parameters for a plain function, unknown or missing names, wrong
            types, over 16 KiB, or pickled parameters for a class that takes str and int.
    """
    shape = class_shape(function)
    if len(data) > MAX_PARAMETER_BYTES:
        raise InvalidRequest(
            f"the parameters take {len(data)} bytes, over the limit of {MAX_PARAMETER_BYTES}"
        )
    if shape is None:
        if data and data != b"{}":
            raise InvalidRequest(f"{function.name} is not a class and takes no parameters")
        return None
    if kind == "pickle":
        if shape.init_params is None:
            raise InvalidRequest(f"{function.name} takes str and int keyword parameters only")
        return Parameters("pickle", data)
    try:
        values = orjson.loads(data) if data else {}
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the parameters are not valid JSON: {exc}") from exc
    if not isinstance(values, dict):
        raise InvalidRequest("the parameters must be a JSON object of name to value")
    if shape.init_params is not None:
        _bind_init(function.name, shape.init_params, values)
        return Parameters("json", orjson.dumps(values, option=orjson.OPT_SORT_KEYS))
    return Parameters("json", _canonical(function.name, shape.parameters, values))


def _bind_init(name: str, init_params: Sequence[ParameterSpec], values: dict[str, Any]) -> None:
    try:
        signature_of(init_params).bind(**values)
    except TypeError as exc:
        raise InvalidRequest(f"{name}(): {exc}") from exc


def _canonical(name: str, specs: Sequence[ParameterSpec], values: Mapping[str, Any]) -> bytes:
    by_name = {spec["name"]: spec for spec in specs}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        known = ", ".join(sorted(by_name)) or "none"
        raise InvalidRequest(f"{name} has no parameter {unknown[0]!r} (it has: {known})")
    complete = {}
    for spec in specs:
        key = spec["name"]
        if key not in values:
            if not spec.get("has_default"):
                raise InvalidRequest(f"{name} needs the parameter {key!r}")
            complete[key] = spec.get("default")
            continue
        value = values[key]
        if spec["type"] == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidRequest(f"parameter {key!r} of {name} must be an int, not {value!r}")
        if spec["type"] == "str" and not isinstance(value, str):
            raise InvalidRequest(f"parameter {key!r} of {name} must be a str, not {value!r}")
        complete[key] = value
    return orjson.dumps(complete, option=orjson.OPT_SORT_KEYS)


def parameters_from_query(
    function: FunctionRecord, query: Mapping[str, str]
) -> tuple[Parameters | None, set[str]]:
    """A parameterized web endpoint's parameters, from the query string (ints converted);
    returns them and the query names they used.

    Raises:
        InvalidRequest: as `check_parameters`, or an int parameter that is not a number.
    """
    shape = class_shape(function)
    if shape is None:
        return None, set()
    values: dict[str, Any] = {}
    for spec in shape.parameters:
        key = spec["name"]
        if key not in query:
            continue
        raw = query[key]
        if spec["type"] == "int":
            try:
                values[key] = int(raw)
            except ValueError:
                raise InvalidRequest(f"parameter {key!r} must be an int, not {raw!r}") from None
        else:
            values[key] = raw
    data = orjson.dumps(values)
    return check_parameters(function, "json", data), set(values)
