"""The typed wrapper around the gateway's public HTTP API (the same one curl uses).

Every operation is written once, as a *flow*: a generator that yields `ApiRequest`s and receives
their `httpx.Response`s. Two drivers run flows: `run_flow` with a blocking `httpx.Client` on the
caller's thread (no event loop, no thread hop: this is what keeps `.remote()` fast), and
`run_flow_async` with an `httpx.AsyncClient` on the caller's loop, for the `.aio` twins.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
import weakref
from collections.abc import Generator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import orjson

from wharf._config import Credentials, load_credentials
from wharf._errors import ConnectionError, RateLimitError, error_from_code
from wharf.error_codes import ErrorCode

T = TypeVar("T")

PICKLE_CONTENT_TYPE = "application/x-python-pickle"
#: Sent by calls made from inside a container, so the gateway can record the call graph.
PARENT_CALL_HEADER = "wharf-parent-call-id"
#: How often a 429 is retried before `RateLimitError` reaches the caller.
MAX_RATE_LIMIT_RETRIES = 8
#: How often a request that is safe to send again is retried after a transport error or a 503
#: (a restarting gateway, a dropped connection), waiting twice as long each time (0.2 s first,
#: at most 10 s): about 32 s in all, what a gateway takes to finish its kept web requests (up
#: to 20 s) and start again.
MAX_TRANSPORT_RETRIES = 8
IDEMPOTENCY_HEADER = "idempotency-key"
#: With an idempotency key: how many times the request was sent before. On the first send
#: (0) the key is new, a fresh UUID, so the gateway need not look it up, only record it.
ATTEMPT_HEADER = "wharf-attempt"
#: Methods that do the same when sent twice (PUT of a blob is by content hash).
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
#: Longest wait honoured from a 429's `Retry-After`.
MAX_RETRY_AFTER_S = 10.0
_CONNECT_TIMEOUT_S = 10.0
_READ_TIMEOUT_S = 300.0
#: Extra read time over a long-poll's own wait, for the network and the gateway.
_POLL_MARGIN_S = 30.0


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """One request of a flow, relative to the gateway URL."""

    method: str
    path: str
    content: bytes | None = None
    json: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, str | float] | None = None
    #: The gateway may hold the response this long (a long-poll); None for the default.
    wait_s: float | None = None

    @property
    def is_retry_safe(self) -> bool:
        """Whether sending it again cannot do the work twice: an idempotent method, or a POST
        that carries an `Idempotency-Key`."""
        return self.method in _IDEMPOTENT_METHODS or IDEMPOTENCY_HEADER in self.headers


#: A generator of requests that returns a value: written once, run sync or async.
Flow = Generator[ApiRequest, httpx.Response, T]


def _verify(credentials: Credentials) -> ssl.SSLContext | bool:
    if credentials.ca_bundle:
        return ssl.create_default_context(cafile=credentials.ca_bundle)
    return True


#: A server URL `unix:///path` means the gateway's Unix socket (how containers reach it).
_UNIX_SCHEME = "unix://"


def _client_options(credentials: Credentials, *, asynchronous: bool) -> dict[str, Any]:
    options: dict[str, Any] = {
        "base_url": credentials.server_url,
        "headers": {"authorization": credentials.authorization},
        "timeout": httpx.Timeout(_READ_TIMEOUT_S, connect=_CONNECT_TIMEOUT_S),
        "verify": _verify(credentials),
        "follow_redirects": False,
    }
    if credentials.server_url.startswith(_UNIX_SCHEME):
        path = credentials.server_url[len(_UNIX_SCHEME) :]
        transport = httpx.AsyncHTTPTransport if asynchronous else httpx.HTTPTransport
        # `localhost` is one of every gateway's own names, so the request's Host is accepted.
        options.update(base_url="http://localhost", transport=transport(uds=path))
    return options


#: Bodies over this go out a piece at a time from the blocking client (whose transport would
#: copy what is left of one big buffer after every send).
_PIECE_BYTES = 1024 * 1024


def _pieces(content: bytes) -> Iterator[bytes]:
    view = memoryview(content)
    for start in range(0, len(view), _PIECE_BYTES):
        yield bytes(view[start : start + _PIECE_BYTES])


def _arguments(request: ApiRequest, attempt: int, *, blocking: bool = False) -> dict[str, Any]:
    headers = dict(request.headers)
    if IDEMPOTENCY_HEADER in headers:
        headers[ATTEMPT_HEADER] = str(attempt)
    content: bytes | Iterator[bytes] | None = request.content
    if blocking and request.content is not None and len(request.content) > _PIECE_BYTES:
        headers["content-length"] = str(len(request.content))
        content = _pieces(request.content)
    if request.json is not None:
        content = orjson.dumps(request.json)
        headers["content-type"] = "application/json"
    arguments: dict[str, Any] = {"content": content, "headers": headers, "params": request.params}
    if request.wait_s is not None:
        arguments["timeout"] = httpx.Timeout(
            request.wait_s + _POLL_MARGIN_S, connect=_CONNECT_TIMEOUT_S
        )
    return arguments


def _backoff_s(attempt: int) -> float:
    return min(0.05 * (1 << attempt), MAX_RETRY_AFTER_S)


def _retry_after_s(request: ApiRequest, response: httpx.Response, attempt: int) -> float | None:
    """Seconds to wait before sending `request` again: after a 429, or a 503 that may pass (not
    `no_capacity`) for a request safe to repeat; None when the response is final."""
    if response.status_code == 429:
        if attempt >= MAX_RATE_LIMIT_RETRIES:
            return None
    elif response.status_code != 503 or not request.is_retry_safe:
        return None
    elif attempt >= MAX_TRANSPORT_RETRIES or _is_final_503(response):
        return None
    raw = str(response.headers.get("retry-after", ""))
    try:
        return min(float(raw), MAX_RETRY_AFTER_S)
    except ValueError:
        return _backoff_s(attempt)


def _is_final_503(response: httpx.Response) -> bool:
    return str(error_body(response).get("code")) == ErrorCode.NO_CAPACITY


def _transport_retry_s(
    request: ApiRequest, error: httpx.TransportError, attempt: int
) -> float | None:
    """Seconds to wait before sending `request` again after a transport error; None: give up
    (it is not safe to repeat, the retries are spent, or the error will not pass)."""
    if not request.is_retry_safe or attempt >= MAX_TRANSPORT_RETRIES or not _may_pass(error):
        return None
    return _backoff_s(attempt + 2)


def _may_pass(error: httpx.TransportError) -> bool:
    """A refused, reset or dropped connection may pass (a gateway restarting); a certificate
    that is not trusted, or a timeout, will not be mended by asking again."""
    if not isinstance(
        error, httpx.ConnectError | httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError
    ):
        return False
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return False
        cause = cause.__cause__ or cause.__context__
    return True


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The `error` object of an error response, or a made-up one when there is none."""
    try:
        decoded = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        decoded = None
    error = decoded.get("error") if isinstance(decoded, dict) else None
    if isinstance(error, dict):
        return error
    return {
        "code": ErrorCode.INTERNAL,
        "message": f"HTTP {response.status_code}: {response.text[:200]}",
    }


def raise_for_platform_error(response: httpx.Response) -> httpx.Response:
    """Raise the `ClientError` of a platform error; a call's own failure is left to the flow."""
    if response.status_code < 400:
        return response
    error = error_body(response)
    code = str(error.get("code", ErrorCode.INTERNAL))
    if response.status_code == 429:
        raise RateLimitError(str(error.get("message", "")))
    if code == ErrorCode.FUNCTION_FAILED:
        return response
    raise error_from_code(code, str(error.get("message", "")))


def _unreachable(credentials: Credentials, exc: httpx.TransportError) -> ConnectionError:
    return ConnectionError(f"could not reach the Wharf gateway at {credentials.server_url}: {exc}")


_sync_lock = threading.Lock()
_sync_clients: dict[Credentials, httpx.Client] = {}
_async_clients: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[Credentials, httpx.AsyncClient]
] = weakref.WeakKeyDictionary()


def _sync_client(credentials: Credentials) -> httpx.Client:
    with _sync_lock:
        client = _sync_clients.get(credentials)
        if client is None:
            client = _sync_clients[credentials] = httpx.Client(
                **_client_options(credentials, asynchronous=False)
            )
        return client


def close_connections() -> None:
    """Close the kept-alive connections of the blocking client (they reopen when needed)."""
    with _sync_lock:
        clients = list(_sync_clients.values())
        _sync_clients.clear()
    for client in clients:
        client.close()


def _async_client(credentials: Credentials) -> httpx.AsyncClient:
    by_credentials = _async_clients.setdefault(asyncio.get_running_loop(), {})
    client = by_credentials.get(credentials)
    if client is None:
        client = by_credentials[credentials] = httpx.AsyncClient(
            **_client_options(credentials, asynchronous=True)
        )
    return client


def _settle(
    request: ApiRequest,
    credentials: Credentials,
    outcome: httpx.Response | httpx.TransportError,
    attempt: int,
) -> httpx.Response | float:
    """What one send came to: the final response, or the seconds to wait before sending
    again (the same rules for the blocking and the async sender).

    Raises:
        ConnectionError: a transport error that is final.
        ClientError: the response is a platform error.
    """
    if isinstance(outcome, httpx.TransportError):
        wait_s = _transport_retry_s(request, outcome, attempt)
        if wait_s is None:
            raise _unreachable(credentials, outcome) from outcome
        return wait_s
    wait_s = _retry_after_s(request, outcome, attempt)
    return raise_for_platform_error(outcome) if wait_s is None else wait_s


def send(request: ApiRequest) -> httpx.Response:
    """Send one request on this thread, retrying 429s, and transport errors and passing 503s
    of requests safe to repeat, a bounded number of times."""
    credentials = load_credentials()
    client = _sync_client(credentials)
    attempt = 0
    while True:
        outcome: httpx.Response | httpx.TransportError
        try:
            arguments = _arguments(request, attempt, blocking=True)
            outcome = client.request(request.method, request.path, **arguments)
        except httpx.TransportError as exc:
            outcome = exc
        settled = _settle(request, credentials, outcome, attempt)
        if isinstance(settled, httpx.Response):
            return settled
        attempt += 1
        time.sleep(settled)


async def send_async(request: ApiRequest) -> httpx.Response:
    """Send one request on the running loop, retrying as `send` does."""
    credentials = load_credentials()
    client = _async_client(credentials)
    attempt = 0
    while True:
        outcome: httpx.Response | httpx.TransportError
        try:
            arguments = _arguments(request, attempt)
            outcome = await client.request(request.method, request.path, **arguments)
        except httpx.TransportError as exc:
            outcome = exc
        settled = _settle(request, credentials, outcome, attempt)
        if isinstance(settled, httpx.Response):
            return settled
        attempt += 1
        await asyncio.sleep(settled)


def run_flow(flow: Flow[T]) -> T:
    """Run a flow to its value with blocking requests on this thread."""
    try:
        request = next(flow)
        while True:
            request = flow.send(send(request))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def run_flow_async(flow: Flow[T]) -> T:
    """Run a flow to its value on the running event loop."""
    try:
        request = next(flow)
        while True:
            request = flow.send(await send_async(request))
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


def request(request: ApiRequest) -> Flow[httpx.Response]:
    """A flow of one request, returning its response."""
    return (yield request)
