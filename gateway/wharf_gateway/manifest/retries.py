"""Retry policies of functions: how often an input whose function raised runs again, and the
waits between attempts (`Retries(max_retries, backoff_coefficient, initial_delay, max_delay)`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wharf_gateway.errors import InvalidRequest

#: (low, high) of each field, as the client checks them.
_BOUNDS = {
    "max_retries": (0, 10),
    "backoff_coefficient": (1.0, 10.0),
    "initial_delay_s": (0.0, 60.0),
    "max_delay_s": (1.0, 60.0),
}


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 0
    backoff_coefficient: float = 2.0
    initial_delay_s: float = 1.0
    max_delay_s: float = 60.0

    @classmethod
    def from_json(cls, value: object) -> RetryPolicy:
        """The policy of a function's checked `retries` option (a policy object, or a count)."""
        if isinstance(value, dict):
            return cls(**value)
        return cls(max_retries=int(value or 0))  # type: ignore[call-overload]

    def to_json(self) -> dict[str, Any]:
        return {
            "max_retries": self.max_retries,
            "backoff_coefficient": self.backoff_coefficient,
            "initial_delay_s": self.initial_delay_s,
            "max_delay_s": self.max_delay_s,
        }

    def delay_s(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (from 1)."""
        delay = self.initial_delay_s * self.backoff_coefficient ** (retry - 1)
        return float(min(delay, self.max_delay_s))


def check_retries(name: str, value: object) -> dict[str, Any]:
    """A manifest's `retries` option (a count or a policy object) as a full policy object.

    Raises:
        InvalidRequest: an unknown field, or a value out of range.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        value = {"max_retries": value}
    if not isinstance(value, dict):
        raise InvalidRequest(f"option 'retries' of function {name!r} has a bad value {value!r}")
    unknown = sorted(set(value) - set(_BOUNDS))
    if unknown:
        raise InvalidRequest(
            f"option 'retries' of function {name!r} has unknown field {unknown[0]}"
        )
    policy = {
        "max_retries": 0,
        "backoff_coefficient": 2.0,
        "initial_delay_s": 1.0,
        "max_delay_s": 60.0,
    }
    for key, given in value.items():
        low, high = _BOUNDS[key]
        if (
            isinstance(given, bool)
            or not isinstance(given, int | float)
            or not low <= given <= high
        ):
            raise InvalidRequest(
                f"retries.{key} of function {name!r} must be between {low} and {high}"
            )
        if key == "max_retries" and not isinstance(given, int):
            raise InvalidRequest(f"retries.max_retries of function {name!r} must be an int")
        policy[key] = given
    return policy
