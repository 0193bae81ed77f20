"""Decorators that mark functions and class members for `@app.function()` and `@app.cls()`:
`@concurrent`, `@method`, `@enter`, `@exit`, and `parameter()` fields.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from wharf._errors import InvalidError
from wharf._options import Concurrency
from wharf._web import WebFunction

T = TypeVar("T")

#: Attribute naming a member's role in its class: "method", "enter" or "exit".
ROLE_ATTRIBUTE = "__wharf_role__"
#: Attribute holding the `Concurrency` of a function or class.
CONCURRENCY_ATTRIBUTE = "__wharf_concurrency__"
#: Parameter types a class may declare with `parameter()`.
PARAMETER_TYPES: dict[type, str] = {str: "str", int: "int"}


def _check_parentheses(name: str, value: object) -> None:
    if value is not None:
        raise InvalidError(f"use @{name}() with parentheses, not bare @{name}")


def _mark(role: str) -> Callable[[T], T]:
    def mark(member: T) -> T:
        target = member.raw_f if isinstance(member, WebFunction) else member
        if not callable(target):
            raise InvalidError(f"@{role}() decorates methods, not {member!r}")
        setattr(target, ROLE_ATTRIBUTE, role)
        return member

    return mark


def method(
    _warn_parentheses_missing: object = None, *, is_generator: bool | None = None
) -> Callable[[T], T]:
    """Mark a method of an `@app.cls()` class as callable remotely (`Obj.name.remote(...)`)."""
    del is_generator
    _check_parentheses("method", _warn_parentheses_missing)
    return _mark("method")


def enter(_warn_parentheses_missing: object = None, *, snap: bool = False) -> Callable[[T], T]:
    """Run this method once per container, after the parameters are set and before its first
    input; an exception fails the container's start (and the calls waiting for it)."""
    del snap
    _check_parentheses("enter", _warn_parentheses_missing)
    return _mark("enter")


def exit(_warn_parentheses_missing: object = None) -> Callable[[T], T]:
    """Run this method when the container is stopped (within the stop's grace period)."""
    _check_parentheses("exit", _warn_parentheses_missing)
    return _mark("exit")


def concurrent(
    _warn_parentheses_missing: object = None, *, max_inputs: int, target_inputs: int | None = None
) -> Callable[[T], T]:
    """Let one container run up to `max_inputs` inputs at once; the autoscaler aims for
    `target_inputs` per container and uses the rest to absorb bursts.

    Sync functions run on threads, async ones on the container's event loop. Put it under
    `@app.function()` or `@app.cls()`.

    Raises:
        InvalidError: the numbers are out of range.
    """
    _check_parentheses("concurrent", _warn_parentheses_missing)
    concurrency = Concurrency(max_inputs, target_inputs)

    def mark(target: T) -> T:
        raw = target.raw_f if isinstance(target, WebFunction) else target
        setattr(raw, CONCURRENCY_ATTRIBUTE, concurrency)
        return target

    return mark


def concurrency_of(target: object) -> Concurrency | None:
    raw = target.raw_f if isinstance(target, WebFunction) else target
    found = getattr(raw, CONCURRENCY_ATTRIBUTE, None)
    return found if isinstance(found, Concurrency) else None


_NO_DEFAULT: Any = object()


@dataclass(frozen=True, slots=True)
class Parameter:
    """A class field set from the constructor's keywords; see `parameter()`."""

    default: Any = _NO_DEFAULT
    init: bool = True

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT


def parameter(*, default: Any = _NO_DEFAULT, init: bool = True) -> Any:
    """Declare a class parameter (`foo: str = modal.parameter()`); each distinct set of values
    gets its own pool of containers. Types: `str` and `int`.

    Args:
        default: The value when the constructor is not given one.
        init: False makes it an ordinary annotated attribute, not a parameter.
    """
    return Parameter(default, init)
