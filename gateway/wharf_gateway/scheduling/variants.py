"""Variants of a function: which method a call runs and which pool of the function runs it
(a class's parameter set, a handle's `with_options` overrides)."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import orjson

from wharf_gateway.manifest.classes import (
    Parameters,
    check_parameters,
    class_shape,
    parameters_from_query,
)
from wharf_gateway.models import FunctionRecord


@dataclass(frozen=True, slots=True)
class Variant:
    """Which method a call runs and in which pool of its function: a class's parameter set
    and a handle's option overrides (`with_options`) each get pools of their own."""

    method: str | None = None
    parameters: Parameters | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def pool_suffix(self) -> str:
        """Added to the function id to name the pool; empty for the function's own pool."""
        if self.parameters is None and not self.options:
            return ""
        digest = hashlib.sha256()
        if self.parameters is not None:
            digest.update(f"{self.parameters.format}:".encode() + self.parameters.data)
        digest.update(b"|" + orjson.dumps(self.options, option=orjson.OPT_SORT_KEYS))
        return "/" + digest.hexdigest()[:24]

    def apply(self, function: FunctionRecord) -> FunctionRecord:
        """The function as this variant's pool runs it (its options overridden)."""
        if not self.options:
            return function
        return dataclasses.replace(
            function, definition=function.definition.with_options(self.options)
        )

    def to_json(self) -> bytes | None:
        if self == Variant():
            return None
        data: dict[str, Any] = {"method": self.method, "options": self.options}
        if self.parameters is not None:
            data["parameters_format"] = self.parameters.format
            data["parameters"] = base64.b64encode(self.parameters.data).decode()
        return orjson.dumps(data)

    @classmethod
    def from_json(cls, raw: bytes | str | None) -> Variant:
        if raw is None:
            return cls()
        data = orjson.loads(raw)
        parameters = None
        if "parameters" in data:
            parameters = Parameters(data["parameters_format"], base64.b64decode(data["parameters"]))
        return cls(data.get("method"), parameters, dict(data.get("options") or {}))


def default_variant(function: FunctionRecord) -> Variant:
    """The pool a function's calls use without parameters: for a class, its defaults.

    Raises:
        InvalidRequest: a class with parameters that have no default.
    """
    if class_shape(function) is None:
        return Variant()
    return Variant(parameters=check_parameters(function, "json", b"{}"))


def web_variant(function: FunctionRecord, query_string: bytes) -> Variant:
    """The pool a web request uses: a parameterized class endpoint's parameters come from
    the query string (`?foo=hedgehog&bar=7`).

    Raises:
        InvalidRequest: the parameters are missing, unknown or of the wrong type.
    """
    if class_shape(function) is None:
        return Variant()
    query = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    parameters, _ = parameters_from_query(function, query)
    return Variant(parameters=parameters)
