"""Retry policies: the waits between attempts, and the manifest's `retries` option checked."""

from __future__ import annotations

import pytest
from wharf._errors import InvalidError
from wharf._retries import Retries, retry_policy
from wharf_gateway.errors import InvalidRequest
from wharf_gateway.manifest.retries import RetryPolicy, check_retries


def test_waits_grow_by_the_coefficient_up_to_the_cap() -> None:
    policy = RetryPolicy(
        max_retries=5, backoff_coefficient=3.0, initial_delay_s=1.0, max_delay_s=10
    )
    assert [policy.delay_s(n) for n in range(1, 5)] == [1.0, 3.0, 9.0, 10.0]


def test_a_count_and_a_policy_both_become_the_full_policy() -> None:
    assert check_retries("f", 2) == {
        "max_retries": 2,
        "backoff_coefficient": 2.0,
        "initial_delay_s": 1.0,
        "max_delay_s": 60.0,
    }
    policy = check_retries("f", Retries(3, initial_delay=0.5).to_json())
    assert RetryPolicy.from_json(policy) == RetryPolicy(3, 2.0, 0.5, 60.0)
    assert RetryPolicy.from_json(4).max_retries == 4
    assert RetryPolicy.from_json(None).max_retries == 0


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("three", "bad value"),
        ({"max_retries": 1, "jitter": 1}, "unknown field jitter"),
        ({"max_retries": 11}, "between 0 and 10"),
        ({"max_retries": 1.5}, "must be an int"),
        ({"backoff_coefficient": True}, "between 1.0 and 10.0"),
        ({"max_delay_s": 0.5}, "between 1.0 and 60.0"),
    ],
)
def test_bad_retry_options_are_refused_clearly(value: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        check_retries("f", value)


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"max_retries": 11}, "max_retries"),
        ({"max_retries": 1, "backoff_coefficient": 0.5}, "backoff_coefficient"),
        ({"max_retries": 1, "initial_delay": 61}, "initial_delay"),
        ({"max_retries": 1, "max_delay": 0}, "max_delay"),
    ],
)
def test_the_client_checks_the_same_ranges(keywords: dict[str, float], message: str) -> None:
    with pytest.raises(InvalidError, match=message):
        Retries(**keywords)  # type: ignore[arg-type]


def test_retries_accepts_a_count_a_policy_or_nothing() -> None:
    assert retry_policy(None) == Retries(0)
    assert retry_policy(2) == Retries(2)
    assert retry_policy(Retries(1, max_delay=5)) == Retries(1, max_delay=5)
    with pytest.raises(InvalidError, match="an int or a Retries"):
        retry_policy("twice")  # type: ignore[arg-type]
