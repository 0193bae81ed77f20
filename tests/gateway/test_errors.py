"""The gateway's error codes are the SDK's closed `ErrorCode`, and each reaches the client as a
class; every error renders in the one body shape."""

from __future__ import annotations

import orjson
import pytest
from wharf._errors import ERROR_CODE_CLASSES
from wharf.error_codes import ErrorCode, parse_error_code
from wharf.exception import ClientError, RateLimitError
from wharf_gateway.errors import GatewayError, RateLimited, Unauthorized
from wharf_gateway.responses import error_response, render_error, render_gateway_error


def _all_subclasses(cls: type[GatewayError]) -> list[type[GatewayError]]:
    found: list[type[GatewayError]] = []
    for subclass in cls.__subclasses__():
        found += [subclass, *_all_subclasses(subclass)]
    return found


GATEWAY_ERRORS: list[type[GatewayError]] = [GatewayError, *_all_subclasses(GatewayError)]


def test_every_error_code_has_a_client_exception_class() -> None:
    assert set(ERROR_CODE_CLASSES) == set(ErrorCode)
    assert all(issubclass(cls, ClientError) for cls in ERROR_CODE_CLASSES.values())


@pytest.mark.parametrize("error_class", GATEWAY_ERRORS, ids=lambda cls: cls.__name__)
def test_every_gateway_error_code_is_an_error_code(error_class: type[GatewayError]) -> None:
    assert isinstance(error_class.code, ErrorCode)
    assert ErrorCode(error_class.code.value) is error_class.code


@pytest.mark.parametrize(
    "error_class",
    [cls for cls in GATEWAY_ERRORS if cls.status == 429],
    ids=lambda cls: cls.__name__,
)
def test_a_429_code_is_a_rate_limit_error_in_the_client(error_class: type[GatewayError]) -> None:
    # The client raises RateLimitError for any 429 before it reads the code: the table agrees.
    assert ERROR_CODE_CLASSES[error_class.code] is RateLimitError


def test_an_unknown_code_parses_as_none() -> None:
    assert parse_error_code("not_found") is ErrorCode.NOT_FOUND
    assert parse_error_code("brand_new_code") is None


def test_a_gateway_error_renders_its_status_code_message_and_headers() -> None:
    rendered = render_gateway_error(RateLimited(3, {"x-ratelimit-limit": "10"}))

    assert rendered.status == 429
    assert orjson.loads(rendered.body) == {
        "error": {
            "code": "rate_limited",
            "message": "the workspace is over its rate limit; retry in 3 s",
        }
    }
    assert dict(rendered.headers) == {
        b"content-type": b"application/json",
        b"retry-after": b"3",
        b"x-ratelimit-limit": b"10",
    }


def test_the_api_response_carries_the_rendered_error() -> None:
    error = Unauthorized("the token is not valid")
    rendered = render_gateway_error(error)

    response = error_response(error)

    assert (response.status_code, response.body) == (401, rendered.body)
    assert response.headers["www-authenticate"] == 'Bearer realm="wharf"'
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(rendered.body))


def test_an_error_from_status_code_and_message_has_the_same_shape() -> None:
    rendered = render_error(502, ErrorCode.BAD_GATEWAY, "the endpoint's container failed")

    assert rendered.status == 502
    assert orjson.loads(rendered.body) == {
        "error": {"code": "bad_gateway", "message": "the endpoint's container failed"}
    }
