"""Function options: today's names, the older aliases, and the ranges they must fall in."""

from __future__ import annotations

from typing import Any

import pytest
from wharf._errors import InvalidError
from wharf._options import FunctionOptions, resolve_options
from wharf._retries import Retries


def test_defaults_are_safe_and_finite() -> None:
    assert resolve_options() == FunctionOptions(
        min_containers=0,
        max_containers=None,
        buffer_containers=0,
        scaledown_window_s=60.0,
        timeout_s=300.0,
        retries=Retries(0),
        max_inputs=1,
        gpu=(),
        cpu=None,
        memory_mb=None,
    )


@pytest.mark.parametrize(
    ("keywords", "field", "value"),
    [
        ({"min_containers": 2}, "min_containers", 2),
        ({"keep_warm": 2}, "min_containers", 2),
        ({"max_containers": 5}, "max_containers", 5),
        ({"concurrency_limit": 5}, "max_containers", 5),
        ({"scaledown_window": 30}, "scaledown_window_s", 30.0),
        ({"container_idle_timeout": 30}, "scaledown_window_s", 30.0),
        ({"allow_concurrent_inputs": 8}, "max_inputs", 8),
        ({"memory": 512}, "memory_mb", 512),
        ({"timeout": 60}, "timeout_s", 60.0),
    ],
)
def test_names_and_older_aliases_set_the_same_option(
    keywords: dict[str, Any], field: str, value: object
) -> None:
    assert getattr(resolve_options(**keywords), field) == value


@pytest.mark.parametrize(
    ("name", "alias"),
    [
        ("min_containers", "keep_warm"),
        ("max_containers", "concurrency_limit"),
        ("scaledown_window", "container_idle_timeout"),
    ],
)
def test_passing_a_name_and_its_alias_is_refused(name: str, alias: str) -> None:
    keywords: dict[str, Any] = {name: 3, alias: 3}

    with pytest.raises(InvalidError, match=f"pass either {name}= or its older name {alias}="):
        resolve_options(**keywords)


@pytest.mark.parametrize("seconds", [2, 1200])
def test_scaledown_window_at_its_bounds_is_accepted(seconds: float) -> None:
    assert resolve_options(scaledown_window=seconds).scaledown_window_s == seconds


@pytest.mark.parametrize("seconds", [1, 1201])
def test_scaledown_window_out_of_range_is_refused(seconds: float) -> None:
    with pytest.raises(InvalidError, match="scaledown_window must be between 2 and 1200"):
        resolve_options(scaledown_window=seconds)


def test_container_idle_timeout_out_of_range_is_refused() -> None:
    with pytest.raises(InvalidError, match="scaledown_window must be between"):
        resolve_options(container_idle_timeout=0)


@pytest.mark.parametrize("seconds", [1, 86400])
def test_timeout_at_its_bounds_is_accepted(seconds: float) -> None:
    assert resolve_options(timeout=seconds).timeout_s == seconds


@pytest.mark.parametrize("seconds", [0, 0.5, 86401])
def test_timeout_out_of_range_is_refused(seconds: float) -> None:
    with pytest.raises(InvalidError, match="timeout must be between 1 and 86400 seconds"):
        resolve_options(timeout=seconds)


def test_max_containers_below_min_containers_is_refused() -> None:
    with pytest.raises(InvalidError, match=r"max_containers \(1\) must be at least"):
        resolve_options(min_containers=2, max_containers=1)


def test_max_containers_of_zero_is_refused() -> None:
    with pytest.raises(InvalidError, match="max_containers"):
        resolve_options(max_containers=0)


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"min_containers": -1}, "cannot be negative"),
        ({"buffer_containers": -1}, "cannot be negative"),
        ({"retries": -1}, "max_retries must be between 0 and 10"),
    ],
)
def test_negative_counts_are_refused(keywords: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidError, match=message):
        resolve_options(**keywords)


@pytest.mark.parametrize(
    ("gpu", "expected"), [(None, ()), ("A100", ("A100",)), (["T4", "L4"], ("T4", "L4"))]
)
def test_gpu_is_always_a_tuple(gpu: str | list[str] | None, expected: tuple[str, ...]) -> None:
    assert resolve_options(gpu=gpu).gpu == expected


def test_options_serialise_for_the_manifest() -> None:
    options = resolve_options(keep_warm=1, gpu="T4", cpu=0.5)

    assert options.to_json() == {
        "min_containers": 1,
        "max_containers": None,
        "buffer_containers": 0,
        "scaledown_window_s": 60.0,
        "timeout_s": 300.0,
        "startup_timeout_s": None,
        "retries": {
            "max_retries": 0,
            "backoff_coefficient": 2.0,
            "initial_delay_s": 1.0,
            "max_delay_s": 60.0,
        },
        "max_inputs": 1,
        "target_inputs": None,
        "gpu": ["T4"],
        "cpu": 0.5,
        "memory_mb": None,
    }
