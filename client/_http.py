"""The typed wrapper around the gateway's public HTTP API (the same one curl uses)."""

from __future__ import annotations

import asyncio
import ssl
import weakref
from collections.abc import Mapping
from typing import Any

import httpx
import orjson

from client._config import Credentials, load_credentials
from client._errors import ClientError, ConnectionError, RateLimitError, error_from_code

PICKLE_CONTENT_TYPE = "application/x-python-pickle"
#: Sent by calls made from inside a container, so the gateway can record the call graph.
PARENT_CALL_HEADER = "wharf-parent-call-id"
#: How often a 429 is retried before `RateLimitError` reaches the caller.
MAX_RATE_LIMIT_RETRIES = 8
#: Longest wait honoured from a 429's `Retry-After`.
MAX_RETRY_AFTER_S = 10.0
_CONNECT_TIMEOUT_S = 10.0
_READ_TIMEOUT_S = 300.0

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[Credentials, GatewayClient]] = (
    weakref.WeakKeyDictionary()
)


class GatewayClient:
    """One kept-alive connection pool to the gateway, bound to one event loop."""

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        verify: ssl.SSLContext | bool = True
        if credentials.ca_bundle:
            verify = ssl.create_default_context(cafile=credentials.ca_bundle)
        self._http = httpx.AsyncClient(
            base_url=credentials.server_url,
            headers={"authorization": credentials.authorization},
            timeout=httpx.Timeout(_READ_TIMEOUT_S, connect=_CONNECT_TIMEOUT_S),
            verify=verify,
            follow_redirects=False,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str | float] | None = None,
        read_timeout_s: float | None = None,
    ) -> httpx.Response:
        """Send one request; platform errors are raised as their `ClientError` class.

        Raises:
            ConnectionError: the gateway could not be reached.
            RateLimitError: still over the rate limit after the bounded retries.
            ClientError: the subclass named by the gateway's error code.
        """
        body = orjson.dumps(json) if json is not None else content
        all_headers = dict(headers or {})
        if json is not None:
            all_headers["content-type"] = "application/json"
        timeout = None if read_timeout_s is None else httpx.Timeout(read_timeout_s + 30)
        for attempt in range(MAX_RATE_LIMIT_RETRIES + 1):
            try:
                response = await self._http.request(
                    method,
                    path,
                    content=body,
                    headers=all_headers,
                    params=params,
                    timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
                )
            except httpx.TransportError as exc:
                raise ConnectionError(
                    f"could not reach the Wharf gateway at {self.credentials.server_url}: {exc}"
                ) from exc
            if response.status_code != 429 or attempt == MAX_RATE_LIMIT_RETRIES:
                break
            await asyncio.sleep(_retry_after_s(response, attempt))
        if response.status_code == 429:
            raise RateLimitError(error_message(response))
        raise_for_platform_error(response)
        return response

    async def aclose(self) -> None:
        await self._http.aclose()


def _retry_after_s(response: httpx.Response, attempt: int) -> float:
    raw = str(response.headers.get("retry-after", ""))
    try:
        return min(float(raw), MAX_RETRY_AFTER_S)
    except ValueError:
        return min(0.05 * (1 << attempt), MAX_RETRY_AFTER_S)


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of an error response, or a made-up one when there is none."""
    try:
        decoded = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        decoded = None
    error = decoded.get("error") if isinstance(decoded, dict) else None
    if isinstance(error, dict):
        return error
    return {"code": "internal", "message": f"HTTP {response.status_code}: {response.text[:200]}"}


def error_message(response: httpx.Response) -> str:
    return str(error_body(response).get("message", ""))


def raise_for_platform_error(response: httpx.Response) -> None:
    """Raise the `ClientError` for a platform error; user failures are left to the caller."""
    if response.status_code < 400:
        return
    error = error_body(response)
    code = str(error.get("code", "internal"))
    if code == "function_failed":
        return
    raise error_from_code(code, str(error.get("message", "")))


def gateway_client() -> GatewayClient:
    """The client of the running event loop, created from the credentials on first use."""
    credentials = load_credentials()
    by_credentials = _clients.setdefault(asyncio.get_running_loop(), {})
    client = by_credentials.get(credentials)
    if client is None:
        client = by_credentials[credentials] = GatewayClient(credentials)
    return client


__all__ = ["ClientError", "GatewayClient", "gateway_client"]
