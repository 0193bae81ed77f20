"""Class parameters as the client encodes them: keyword-only str and int fields, or a legacy
`__init__` whose arguments travel pickled when they are not plain JSON values."""

from __future__ import annotations

import orjson
import pytest
import wharf as modal
from wharf._cls import class_parameters, encode_parameters, has_legacy_init, instantiate
from wharf._errors import InvalidError


class Model:
    name: str = modal.parameter()
    size: int = modal.parameter(default=100)
    note: str = modal.parameter(init=False)

    @modal.method()
    def generate(self) -> str:
        return self.name


class Legacy:
    def __init__(self, scale: float, label: object = None) -> None:
        self.scale = scale
        self.label = label


def test_parameters_are_declared_fields_with_defaults() -> None:
    specs = class_parameters(Model)
    assert [(s.name, s.type, s.has_default, s.default) for s in specs] == [
        ("name", "str", False, None),
        ("size", "int", True, 100),
    ]
    assert not has_legacy_init(Model)
    assert has_legacy_init(Legacy)


def test_keyword_parameters_are_json_and_checked() -> None:
    kind, data = encode_parameters(Model, (), {"name": "small"})
    assert (kind, orjson.loads(data)) == ("json", {"name": "small"})
    with pytest.raises(InvalidError, match="keywords only"):
        encode_parameters(Model, ("small",), {})
    with pytest.raises(InvalidError, match="no parameter 'colour'"):
        encode_parameters(Model, (), {"name": "x", "colour": "red"})
    with pytest.raises(InvalidError, match="must be a int"):
        encode_parameters(Model, (), {"name": "x", "size": "big"})
    with pytest.raises(InvalidError, match="needs the parameters name"):
        encode_parameters(Model, (), {})
    with pytest.raises(InvalidError, match="over the limit of 16384"):
        encode_parameters(Model, (), {"name": "x" * 17_000})


def test_legacy_arguments_are_bound_and_pickled_when_not_plain() -> None:
    assert encode_parameters(Legacy, (2.5,), {}) == ("json", b'{"scale":2.5}')
    kind, _ = encode_parameters(Legacy, (2.5,), {"label": object()})
    assert kind == "pickle"
    instance = instantiate(Legacy, ((2.5,), {"label": "x"}))
    assert (instance.scale, instance.label) == (2.5, "x")


def test_instances_get_their_parameters_and_defaults() -> None:
    instance = instantiate(Model, {"name": "small"})
    assert (instance.name, instance.size) == ("small", 100)
    with pytest.raises(InvalidError, match="str and int keyword parameters only"):
        instantiate(Model, ((), {}))


def test_parameter_types_other_than_str_and_int_are_refused() -> None:
    class Floaty:
        ratio: float = modal.parameter()

    with pytest.raises(InvalidError, match="annotated as str or int"):
        class_parameters(Floaty)

    class BadDefault:
        size: int = modal.parameter(default="big")

    with pytest.raises(InvalidError, match="is not a int"):
        class_parameters(BadDefault)
