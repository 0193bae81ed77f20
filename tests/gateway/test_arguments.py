"""JSON call bodies are checked against the function's signature before a call is accepted."""

from __future__ import annotations

from typing import Any

import pytest
from wharf_gateway.calls.arguments import check_json_arguments
from wharf_gateway.errors import InvalidRequest
from wharf_gateway.manifest.definition import FunctionDefinition
from wharf_gateway.models import FunctionRecord


def _function(params: list[dict[str, Any]] | None) -> FunctionRecord:
    definition: dict[str, Any] = {"name": "checkout"}
    if params is not None:
        definition["params"] = params
    return FunctionRecord(
        function_id="fu-1",
        app_id="ap-1",
        app_name="shop",
        workspace_id="ws-1",
        version=1,
        name="checkout",
        bundle_sha256="0" * 64,
        module="shop_app",
        app_variable="app",
        definition=FunctionDefinition.from_json(definition),
    )


#: checkout(cart, coupon=..., *, currency)
CHECKOUT = _function(
    [
        {"name": "cart", "kind": "POSITIONAL_OR_KEYWORD"},
        {"name": "coupon", "kind": "POSITIONAL_OR_KEYWORD", "has_default": True},
        {"name": "currency", "kind": "KEYWORD_ONLY"},
    ]
)
NO_PARAMETERS = _function([])


@pytest.mark.parametrize("body", [b"", b"  \n", b"{}", b'{"args": [], "kwargs": {}}'])
def test_empty_body_means_no_arguments(body: bytes) -> None:
    check_json_arguments(body, NO_PARAMETERS)


@pytest.mark.parametrize(
    "body",
    [
        b'{"args": [["apple"]], "kwargs": {"currency": "EUR"}}',
        b'{"args": [["apple"], "SPRING"], "kwargs": {"currency": "EUR"}}',
        b'{"kwargs": {"cart": [], "currency": "EUR", "coupon": null}}',
    ],
)
def test_arguments_that_bind_to_the_signature_are_accepted(body: bytes) -> None:
    check_json_arguments(body, CHECKOUT)


def test_function_without_recorded_params_takes_no_arguments() -> None:
    with pytest.raises(InvalidRequest, match="too many positional arguments"):
        check_json_arguments(b'{"args": [1]}', _function(None))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"{not json", "the request body is not valid JSON"),
        (b"\xff\xfe", "the request body is not valid JSON"),
        (b"[1, 2]", "the body must be a JSON object"),
        (b'"args"', "the body must be a JSON object"),
        (b'{"args": [], "extra": 1, "more": 2}', "unknown keys in the body: extra, more"),
        (b'{"args": {"cart": 1}}', '"args" must be a JSON array, not dict'),
        (b'{"kwargs": [1]}', '"kwargs" must be a JSON object, not list'),
        (b'{"args": "apple"}', '"args" must be a JSON array, not str'),
    ],
)
def test_malformed_body_is_refused_naming_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_json_arguments(body, CHECKOUT)

    assert message in caught.value.message


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"kwargs": {"currency": "EUR"}}', "missing a required argument: 'cart'"),
        (b'{"args": [[]]}', "missing a required argument: 'currency'"),
        (b'{"args": [[], null, "EUR"]}', "too many positional arguments"),
        (b'{"args": [[]], "kwargs": {"cart": [], "currency": "EUR"}}', "multiple values"),
        (b'{"args": [[]], "kwargs": {"currency": "EUR", "tip": 1}}', "unexpected keyword"),
    ],
)
def test_arguments_that_do_not_bind_are_refused_with_the_function_name(
    body: bytes, message: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_json_arguments(body, CHECKOUT)

    assert caught.value.message.startswith("checkout(): ")
    assert message in caught.value.message


def test_positional_only_parameter_cannot_be_passed_by_keyword() -> None:
    record = _function([{"name": "x", "kind": "POSITIONAL_ONLY"}])

    check_json_arguments(b'{"args": [1]}', record)
    with pytest.raises(InvalidRequest, match="positional only"):
        check_json_arguments(b'{"kwargs": {"x": 1}}', record)


def test_variadic_parameters_take_any_extra_arguments() -> None:
    record = _function(
        [
            {"name": "args", "kind": "VAR_POSITIONAL"},
            {"name": "kwargs", "kind": "VAR_KEYWORD"},
        ]
    )

    check_json_arguments(b'{"args": [1, 2, 3], "kwargs": {"a": 1, "b": 2}}', record)
