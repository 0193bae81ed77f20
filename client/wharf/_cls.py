"""`@app.cls()` classes: parameters, lifecycle hooks, and handles on their methods.

A class is deployed as one function whose containers each hold one instance: every distinct
set of parameter values gets its own pool, `@enter` methods run once per container and `@exit`
ones when it stops. `MyClass(foo="x").baz.remote()` calls method `baz` in the pool of `foo="x"`.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from wharf._aio import Twin
from wharf._errors import InvalidError, NotFoundError
from wharf._function import Function
from wharf._http import ApiRequest, Flow
from wharf._image import Image
from wharf._invocation import function_path
from wharf._object import Deployable
from wharf._options import FunctionOptions
from wharf._partial import PARAMETER_TYPES, ROLE_ATTRIBUTE, Parameter
from wharf._secret import Secret
from wharf._variants import option_overrides
from wharf._web import WebFunction
from wharf.parameters import Values, encode_values


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    name: str
    type: str
    has_default: bool
    default: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "has_default": self.has_default,
            "default": self.default,
        }


def _namespace(user_cls: type) -> dict[str, Any]:
    """The class's attributes with those it inherits (a subclass's own win), bases first."""
    merged: dict[str, Any] = {}
    for klass in reversed(user_cls.__mro__[:-1]):  # without `object`
        merged.update(vars(klass))
    return merged


def _annotations(user_cls: type) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for klass in reversed(user_cls.__mro__[:-1]):
        merged.update(inspect.get_annotations(klass, eval_str=True))
    return merged


def class_parameters(user_cls: type) -> list[ParameterSpec]:
    """The `parameter()` fields of a class, in declaration order.

    Raises:
        InvalidError: a parameter has a type other than str or int, or a bad default.
    """
    specs = []
    annotations = _annotations(user_cls)
    for name, value in _namespace(user_cls).items():
        if not isinstance(value, Parameter) or not value.init:
            continue
        kind = PARAMETER_TYPES.get(annotations.get(name))  # type: ignore[arg-type]
        if kind is None:
            raise InvalidError(
                f"parameter {user_cls.__name__}.{name} must be annotated as str or int"
            )
        if value.has_default and not _has_type(value.default, kind):
            raise InvalidError(f"the default of {user_cls.__name__}.{name} is not a {kind}")
        default = value.default if value.has_default else None
        specs.append(ParameterSpec(name, kind, value.has_default, default))
    return specs


def _has_type(value: object, kind: str) -> bool:
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)


def has_legacy_init(user_cls: type) -> bool:
    """Whether the class (or a base) takes its parameters through an `__init__` of its own."""
    return "__init__" in _namespace(user_cls)


def members(user_cls: type, role: str) -> dict[str, Any]:
    """The class's members marked with `role` ("method", "enter", "exit"), by name."""
    found = {}
    for name, value in _namespace(user_cls).items():
        target = value.raw_f if isinstance(value, WebFunction) else value
        if getattr(target, ROLE_ATTRIBUTE, None) == role:
            found[name] = value
    return found


def web_methods(user_cls: type) -> dict[str, WebFunction]:
    namespace = _namespace(user_cls)
    return {name: value for name, value in namespace.items() if isinstance(value, WebFunction)}


def _check_keywords(user_cls: type, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Keyword-only parameters of the declared names and types, the required ones given."""
    if args:
        raise InvalidError(f"{user_cls.__name__}(...) takes its parameters as keywords only")
    specs = {spec.name: spec for spec in class_parameters(user_cls)}
    for name, value in kwargs.items():
        spec = specs.get(name)
        if spec is None:
            raise InvalidError(f"{user_cls.__name__} has no parameter {name!r}")
        if not _has_type(value, spec.type):
            raise InvalidError(f"parameter {name!r} must be a {spec.type}, not {value!r}")
    missing = [s.name for s in specs.values() if not s.has_default and s.name not in kwargs]
    if missing:
        raise InvalidError(f"{user_cls.__name__} needs the parameters {', '.join(missing)}")


def encode_parameters(
    user_cls: type | None, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[str, bytes]:
    """`(format, bytes)` of a constructor call: JSON where it can be, else pickle (legacy
    `__init__` with other types).

    Raises:
        InvalidError: unknown or missing parameters, wrong types, or over 16 KiB.
    """
    if user_cls is not None and not has_legacy_init(user_cls):
        _check_keywords(user_cls, args, kwargs)
    elif user_cls is not None and args:
        # By name where it can be, so `Legacy(2)` and `Legacy(scale=2)` share a pool.
        bound = inspect.signature(user_cls).bind(*args, **kwargs)
        variadic = any(p.kind is p.VAR_POSITIONAL for p in bound.signature.parameters.values())
        if not variadic:
            args, kwargs = (), dict(bound.arguments)
    return encode_values(args, kwargs)


def instantiate(user_cls: type, parameters: Values) -> Any:
    """An instance of the user's class with its parameters set (defaults filled in)."""
    if has_legacy_init(user_cls):
        args, kwargs = parameters if isinstance(parameters, tuple) else ((), parameters)
        return user_cls(*args, **kwargs)
    if isinstance(parameters, tuple):
        raise InvalidError(f"{user_cls.__name__} takes str and int keyword parameters only")
    instance: Any = object.__new__(user_cls)
    for spec in class_parameters(user_cls):
        setattr(instance, spec.name, parameters.get(spec.name, spec.default))
    return instance


class Obj:
    """An instance of a deployed class: its methods are function handles bound to its
    parameters (`obj.method.remote(...)`, `.spawn`, `.local`)."""

    def __init__(self, cls: Cls, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._cls = cls
        self._args = args
        self._kwargs = kwargs
        self._parameters = encode_parameters(cls._user_cls, args, kwargs)
        self._local: Any = None

    def __repr__(self) -> str:
        return f"{self._cls._name}({self._parameters[1].decode(errors='replace')})"

    def _local_instance(self) -> Any:
        if self._local is None:
            user_cls = self._cls._user_cls
            if user_cls is None:
                raise InvalidError(f"{self._cls._name} has no local code to run")
            self._local = (
                user_cls(*self._args, **self._kwargs)
                if has_legacy_init(user_cls)
                else instantiate(user_cls, self._kwargs)
            )
            for hook in members(user_cls, "enter"):
                getattr(self._local, hook)()
        return self._local

    def __getattr__(self, name: str) -> Function:
        if name.startswith("_"):
            raise AttributeError(name)
        cls = self._cls
        user_cls = cls._user_cls
        if user_cls is not None and name not in members(user_cls, "method"):
            if name not in web_methods(user_cls):
                raise AttributeError(f"{cls._name} has no method {name!r} marked @method()")
        raw_f = None
        if user_cls is not None:
            raw_f = lambda *a, **k: getattr(self._local_instance(), name)(*a, **k)  # noqa: E731
        function = Function(
            f"{cls._name}.{name}",
            raw_f=raw_f,
            app_ref=cls._app_ref,
            app_name=cls._app_name,
            options=cls._options,
        )
        function._parameters = self._parameters
        function._overrides = cls._overrides
        return function


class Cls(Deployable):
    """A class of a Wharf app; call it with its parameters to get an `Obj`."""

    #: Look up a deployed class now (`NotFoundError` if missing); also `.aio`.
    lookup: ClassVar[Twin[[str, str], Cls]]

    def __init__(
        self,
        name: str,
        *,
        user_cls: type | None = None,
        options: FunctionOptions | None = None,
        app_ref: str | None = None,
        app_name: str | None = None,
        image: Image | None = None,
        secrets: Sequence[Secret] = (),
    ) -> None:
        super().__init__(
            name,
            options=options,
            app_ref=app_ref,
            app_name=app_name,
            image=image,
            secrets=secrets,
        )
        self._user_cls = user_cls

    def __call__(self, *args: Any, **kwargs: Any) -> Obj:
        return Obj(self, args, kwargs)

    @property
    def user_cls(self) -> type | None:
        """The Python class this wraps (None for a handle from `from_name`)."""
        return self._user_cls

    def with_options(self, **options: Any) -> Cls:
        """A handle whose calls run in a pool of their own with these options (see
        `Function.with_options`)."""
        other = Cls(
            self._name,
            user_cls=self._user_cls,
            options=self._options,
            app_ref=self._app_ref,
            app_name=self._app_name,
            image=self._image,
            secrets=self._secrets,
        )
        other._overrides = {**self._overrides, **option_overrides(**options)}
        return other


def _lookup(app_name: str, name: str) -> Flow[Cls]:
    """Look up a deployed class now.

    Raises:
        NotFoundError: there is no such app or class.
    """
    found = Cls.from_name(app_name, name)
    response = yield ApiRequest("GET", function_path(app_name, name))
    found._info = response.json()
    shape = found._info.get("class")
    if not shape or shape.get("web_method"):
        raise NotFoundError(f"{name!r} of app {app_name!r} is a function, not a class")
    return found


#: `Cls.lookup(app_name, name)`: the eager form of `from_name` (with `.aio`).
Cls.lookup = Twin(_lookup)
