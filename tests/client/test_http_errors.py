"""Gateway answers reach the caller as their class, through both the blocking and `.aio` drivers.

The gateway is replaced by `httpx.MockTransport`, installed as the client the drivers pick for
the test's credentials.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from wharf._config import Credentials, load_credentials
from wharf._errors import (
    ERROR_CODE_CLASSES,
    ClientError,
    ConnectionError,
    NoCapacityError,
    RateLimitError,
    RemoteError,
    ServerError,
)
from wharf._http import (
    MAX_RATE_LIMIT_RETRIES,
    PICKLE_CONTENT_TYPE,
    ApiRequest,
    Flow,
    _async_clients,
    _sync_clients,
    run_flow,
    run_flow_async,
)
from wharf._invocation import remote_flow
from wharf.error_codes import ErrorCode
from wharf.serialization import serialize

BASE_URL = "http://gateway.test"
Handler = Callable[[httpx.Request], httpx.Response]
Run = Callable[[Handler, Flow[Any]], Any]

#: The HTTP status the gateway sends with each code.
STATUS_OF_CODE = {
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INVALID_REQUEST: 400,
    ErrorCode.IMAGE_BUILD_FAILED: 400,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.HEADERS_TOO_LARGE: 431,
    ErrorCode.NOT_ACCEPTABLE: 406,
    ErrorCode.RESULT_NOT_JSON: 406,
    ErrorCode.CONFLICT: 409,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.HTTP_ERROR: 400,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.BACKLOG_FULL: 429,
    ErrorCode.TOO_MANY_POOLS: 429,
    ErrorCode.MAP_WINDOW_FULL: 429,
    ErrorCode.TOO_MANY_MAPS: 429,
    ErrorCode.TOO_MANY_LOG_STREAMS: 429,
    ErrorCode.OUTPUT_EXPIRED: 410,
    ErrorCode.NO_CAPACITY: 503,
    ErrorCode.FUNCTION_FAILED: 500,
    ErrorCode.STARTUP_FAILED: 500,
    ErrorCode.FUNCTION_TIMEOUT: 504,
    ErrorCode.CALL_CANCELLED: 409,
    ErrorCode.CALL_TERMINATED: 500,
    ErrorCode.BAD_GATEWAY: 502,
    ErrorCode.INSUFFICIENT_STORAGE: 507,
    ErrorCode.INTERNAL: 500,
}


def _error(status: int, code: str, message: str, **fields: Any) -> httpx.Response:
    body = orjson.dumps({"error": {"code": code, "message": message, **fields}})
    # Retry-After 0 lets the client retry a 429 at once, instead of backing off.
    headers = {"retry-after": "0"} if status == 429 else {}
    return httpx.Response(status, content=body, headers=headers)


def _checkout() -> Flow[Any]:
    """What `checkout.remote(["apple"])` runs."""
    return remote_flow("shop", "checkout", (["apple"],), {})


@pytest.fixture
def credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Credentials:
    monkeypatch.setenv("WHARF_CONFIG_PATH", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("WHARF_SERVER_URL", BASE_URL)
    monkeypatch.setenv("WHARF_TOKEN_ID", "wk-1")
    monkeypatch.setenv("WHARF_TOKEN_SECRET", "ws-secret")
    return load_credentials()


@pytest.fixture(params=["blocking", "aio"])
def run(request: pytest.FixtureRequest, credentials: Credentials) -> Run:
    """Run a flow against a handler standing in for the gateway, with one driver."""
    options: dict[str, Any] = {
        "base_url": BASE_URL,
        "headers": {"authorization": credentials.authorization},
    }

    def blocking(handler: Handler, flow: Flow[Any]) -> Any:
        client = httpx.Client(transport=httpx.MockTransport(handler), **options)
        _sync_clients[credentials] = client
        try:
            return run_flow(flow)
        finally:
            del _sync_clients[credentials]
            client.close()

    def aio(handler: Handler, flow: Flow[Any]) -> Any:
        async def main() -> Any:
            client = httpx.AsyncClient(transport=httpx.MockTransport(handler), **options)
            _async_clients.setdefault(asyncio.get_running_loop(), {})[credentials] = client
            try:
                return await run_flow_async(flow)
            finally:
                await client.aclose()

        return asyncio.run(main())

    return blocking if request.param == "blocking" else aio


def test_status_table_covers_every_error_code() -> None:
    assert set(STATUS_OF_CODE) == set(ErrorCode)


#: A `function_failed` body becomes the user's own exception (tested below), not a table class.
PLATFORM_CODES = sorted(
    (code, error_class)
    for code, error_class in ERROR_CODE_CLASSES.items()
    if code is not ErrorCode.FUNCTION_FAILED
)


@pytest.mark.parametrize(("code", "error_class"), PLATFORM_CODES)
def test_every_gateway_error_code_reaches_the_caller_as_its_class(
    run: Run, code: ErrorCode, error_class: type[ClientError]
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _error(STATUS_OF_CODE[code], code, f"the gateway says {code}")

    with pytest.raises(ClientError) as caught:
        run(handler, _checkout())

    assert type(caught.value) is error_class
    assert str(caught.value) == f"the gateway says {code}"


def test_success_is_decoded_and_the_token_sent(run: Run) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"total": 3})

    assert run(handler, _checkout()) == {"total": 3}
    assert seen[0].url.path == "/v1/apps/shop/functions/checkout/calls"
    assert seen[0].headers["authorization"] == "Bearer wk-1:ws-secret"


def test_user_failure_with_its_pickle_is_raised_as_the_original_exception(run: Run) -> None:
    pickled = serialize(ValueError("cart is empty"))

    def handler(request: httpx.Request) -> httpx.Response:
        return _error(
            500,
            "function_failed",
            "ValueError: cart is empty",
            type="ValueError",
            traceback="Traceback (most recent call last):\n...",
            exception_pickle=base64.b64encode(pickled).decode(),
        )

    with pytest.raises(ValueError, match="cart is empty") as caught:
        run(handler, _checkout())

    assert "Remote traceback" in "".join(caught.value.__notes__)


def test_user_failure_without_pickle_is_a_remote_error_with_its_type(run: Run) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _error(500, "function_failed", "KeyError: 'apple'", type="KeyError")

    with pytest.raises(RemoteError) as caught:
        run(handler, _checkout())

    assert (caught.value.type_name, caught.value.remote_message) == ("KeyError", "'apple'")


@pytest.mark.parametrize("body", [b"<html>Bad Gateway</html>", b'{"error": "flat"}', b""])
def test_error_without_the_error_shape_is_a_server_error(run: Run, body: bytes) -> None:
    with pytest.raises(ServerError, match="HTTP 502"):
        run(lambda request: httpx.Response(502, content=body), _checkout())


def test_unknown_error_code_is_a_server_error(run: Run) -> None:
    with pytest.raises(ServerError, match="something new"):
        run(lambda request: _error(500, "brand_new_code", "something new"), _checkout())


def test_function_timeout_does_not_read_as_a_gateway_failure(run: Run) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return _error(504, "function_timeout", "checkout timed out after 30 s")

    with pytest.raises(ClientError) as caught:
        run(handler, _checkout())

    assert not isinstance(caught.value, ServerError)
    assert isinstance(caught.value, TimeoutError)


def test_rate_limited_request_is_retried_after_retry_after_then_succeeds(run: Run) -> None:
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        if len(attempts) < 3:
            return _error(429, "rate_limited", "slow down")
        return httpx.Response(200, json="done")

    assert run(handler, _checkout()) == "done"
    assert [request.content for request in attempts] == [attempts[0].content] * 3


def test_rate_limit_that_outlasts_the_retries_raises_rate_limit_error(run: Run) -> None:
    attempts: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        attempts.append(request)
        return _error(429, "rate_limited", "the workspace is over its rate limit")

    with pytest.raises(RateLimitError, match="over its rate limit"):
        run(handler, _checkout())

    assert len(attempts) == MAX_RATE_LIMIT_RETRIES + 1


@pytest.mark.parametrize(
    "transport_error",
    [httpx.ConnectError("connection refused"), httpx.ReadTimeout("timed out")],
)
def test_transport_error_becomes_connection_error(
    run: Run, transport_error: httpx.TransportError
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise transport_error

    with pytest.raises(ConnectionError, match=f"could not reach the Wharf gateway at {BASE_URL}"):
        run(handler, _not_repeatable())


def _not_repeatable() -> Flow[Any]:
    """A request that is not safe to send twice (a POST without an idempotency key)."""
    yield ApiRequest("POST", "/v1/secrets", json={"name": "s", "values": {"K": "v"}})


def test_connection_error_is_also_the_builtin_connection_error(run: Run) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    with pytest.raises(builtins.ConnectionError) as caught:
        run(handler, _not_repeatable())

    assert isinstance(caught.value, ClientError)
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_a_call_is_sent_again_with_its_key_after_a_dropped_connection_or_a_503(run: Run) -> None:
    sent: list[str] = []
    attempts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.headers["idempotency-key"])
        attempts.append(request.headers["wharf-attempt"])
        if len(sent) == 1:
            raise httpx.RemoteProtocolError("the server went away")
        if len(sent) == 2:
            return _error(503, "unavailable", "restarting")
        return httpx.Response(
            200, content=serialize(["apple"]), headers={"content-type": PICKLE_CONTENT_TYPE}
        )

    assert run(handler, _checkout()) == ["apple"]
    assert len(sent) == 3
    assert len(set(sent)) == 1  # one key: the gateway answers the first call, makes no second
    assert attempts == ["0", "1", "2"]  # a resent key is looked up; a first one need not be


def test_no_capacity_is_not_retried(run: Run) -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return _error(503, "no_capacity", "no runner has H100")

    with pytest.raises(NoCapacityError):
        run(handler, _checkout())
    assert len(sent) == 1
