"""The options a function is declared with, resolved from today's names and the older aliases."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from wharf._errors import InvalidError
from wharf._retries import Retries, retry_policy

MIN_SCALEDOWN_WINDOW_S = 2
MAX_SCALEDOWN_WINDOW_S = 1200
MIN_TIMEOUT_S = 1
MAX_TIMEOUT_S = 24 * 60 * 60
MAX_INPUTS = 1000


@dataclass(frozen=True, slots=True)
class FunctionOptions:
    """Resolved function options, as recorded in the deploy manifest."""

    min_containers: int = 0
    max_containers: int | None = None
    buffer_containers: int = 0
    scaledown_window_s: float = 60.0
    timeout_s: float = 300.0
    startup_timeout_s: float | None = None
    retries: Retries = field(default_factory=lambda: Retries(0))
    max_inputs: int = 1
    #: Inputs per container the autoscaler aims for (at most `max_inputs`).
    target_inputs: int | None = None
    gpu: tuple[str, ...] = ()
    cpu: float | None = None
    memory_mb: int | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["gpu"] = list(self.gpu)
        data["retries"] = self.retries.to_json()
        return data


@dataclass(frozen=True, slots=True)
class Concurrency:
    """Inputs one container takes at once (`@concurrent`).

    Raises:
        InvalidError: `max_inputs` is below 1, or `target_inputs` is not between 1 and it.
    """

    max_inputs: int
    target_inputs: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.max_inputs, bool) or not isinstance(self.max_inputs, int):
            raise InvalidError(f"max_inputs must be an int, not {self.max_inputs!r}")
        if not 1 <= self.max_inputs <= MAX_INPUTS:
            raise InvalidError(f"max_inputs must be between 1 and {MAX_INPUTS}")
        target = self.target_inputs
        if target is not None and not 1 <= target <= self.max_inputs:
            raise InvalidError("target_inputs must be between 1 and max_inputs")


def _pick(name: str, value: Any, alias_name: str, alias: Any) -> Any:
    if value is not None and alias is not None:
        raise InvalidError(f"pass either {name}= or its older name {alias_name}=, not both")
    return value if value is not None else alias


def _check_range(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise InvalidError(f"{name} must be between {low} and {high} seconds, not {value}")


def _gpu_list(gpu: str | list[str] | None) -> tuple[str, ...]:
    if gpu is None:
        return ()
    return (gpu,) if isinstance(gpu, str) else tuple(gpu)


def resolve_options(
    *,
    min_containers: int | None = None,
    keep_warm: int | None = None,
    max_containers: int | None = None,
    concurrency_limit: int | None = None,
    buffer_containers: int | None = None,
    scaledown_window: float | None = None,
    container_idle_timeout: float | None = None,
    timeout: float = 300,
    startup_timeout: float | None = None,
    retries: int | Retries | None = None,
    allow_concurrent_inputs: int | None = None,
    concurrency: Concurrency | None = None,
    gpu: str | list[str] | None = None,
    cpu: float | None = None,
    memory: int | None = None,
) -> FunctionOptions:
    """Options from decorator keywords, checking ranges and alias clashes.

    Raises:
        InvalidError: a value is out of range, or a name and its alias are both given.
    """
    minimum = _pick("min_containers", min_containers, "keep_warm", keep_warm) or 0
    maximum = _pick("max_containers", max_containers, "concurrency_limit", concurrency_limit)
    window = _pick(
        "scaledown_window", scaledown_window, "container_idle_timeout", container_idle_timeout
    )
    window = 60.0 if window is None else float(window)
    _check_range("scaledown_window", window, MIN_SCALEDOWN_WINDOW_S, MAX_SCALEDOWN_WINDOW_S)
    _check_range("timeout", float(timeout), MIN_TIMEOUT_S, MAX_TIMEOUT_S)
    if startup_timeout is not None:
        _check_range("startup_timeout", float(startup_timeout), MIN_TIMEOUT_S, MAX_TIMEOUT_S)
    if maximum is not None and maximum < max(minimum, 1):
        raise InvalidError(f"max_containers ({maximum}) must be at least min_containers and 1")
    if minimum < 0 or (buffer_containers or 0) < 0:
        raise InvalidError("min_containers and buffer_containers cannot be negative")
    if allow_concurrent_inputs is not None and concurrency is not None:
        raise InvalidError("use either @concurrent or its older form allow_concurrent_inputs=")
    if allow_concurrent_inputs is not None:
        concurrency = Concurrency(allow_concurrent_inputs)
    concurrency = concurrency or Concurrency(1)
    return FunctionOptions(
        min_containers=minimum,
        max_containers=maximum,
        buffer_containers=buffer_containers or 0,
        scaledown_window_s=window,
        timeout_s=float(timeout),
        startup_timeout_s=None if startup_timeout is None else float(startup_timeout),
        retries=retry_policy(retries),
        max_inputs=concurrency.max_inputs,
        target_inputs=concurrency.target_inputs,
        gpu=_gpu_list(gpu),
        cpu=cpu,
        memory_mb=memory,
    )
