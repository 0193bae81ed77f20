"""`Retries`: how often, and after what waits, a failed input runs again."""

from __future__ import annotations

from dataclasses import dataclass

from wharf._errors import InvalidError

MAX_RETRIES = 10
MAX_DELAY_S = 60.0


@dataclass(frozen=True, slots=True)
class Retries:
    """A retry policy for inputs whose function raised.

    The wait before retry `n` (from 1) is `initial_delay * backoff_coefficient ** (n - 1)`,
    capped at `max_delay`. A container that dies mid-input has the input retried regardless.

    Args:
        max_retries: Retries after the first attempt (0 to 10).
        backoff_coefficient: Growth of the wait from one retry to the next (1.0 to 10.0).
        initial_delay: Seconds before the first retry (0 to 60).
        max_delay: Longest wait between two attempts, in seconds (1 to 60).

    Raises:
        InvalidError: a value is out of its range.
    """

    max_retries: int
    backoff_coefficient: float = 2.0
    initial_delay: float = 1.0
    max_delay: float = MAX_DELAY_S

    def __post_init__(self) -> None:
        if not 0 <= self.max_retries <= MAX_RETRIES:
            raise InvalidError(f"max_retries must be between 0 and {MAX_RETRIES}")
        if not 1.0 <= self.backoff_coefficient <= 10.0:
            raise InvalidError("backoff_coefficient must be between 1.0 and 10.0")
        if not 0.0 <= self.initial_delay <= MAX_DELAY_S:
            raise InvalidError(f"initial_delay must be between 0 and {MAX_DELAY_S:g} seconds")
        if not 1.0 <= self.max_delay <= MAX_DELAY_S:
            raise InvalidError(f"max_delay must be between 1 and {MAX_DELAY_S:g} seconds")

    def to_json(self) -> dict[str, float]:
        return {
            "max_retries": self.max_retries,
            "backoff_coefficient": self.backoff_coefficient,
            "initial_delay_s": self.initial_delay,
            "max_delay_s": self.max_delay,
        }


def retry_policy(retries: int | Retries | None) -> Retries:
    """`retries=N` means N retries with the default waits; None means none."""
    if retries is None:
        return Retries(0)
    if isinstance(retries, Retries):
        return retries
    if isinstance(retries, bool) or not isinstance(retries, int):
        raise InvalidError(f"retries must be an int or a Retries, not {retries!r}")
    return Retries(retries)
