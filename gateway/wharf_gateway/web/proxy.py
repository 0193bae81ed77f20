"""Answering a request to a web endpoint.

The request is proxied into a container of the endpoint's function and its response streamed
back. A response that has not begun within the request timeout is kept as a call instead: the
caller gets `302` to the same URL plus `__modal_function_id=fc-...`, which waits again, redirects
to itself while needed, and finally replays the function's response. With
`wait_for_response=False` the caller gets `202` with that `result_url` at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
from wharf.error_codes import ErrorCode, parse_error_code

from wharf_gateway.calls.service import ActiveCall
from wharf_gateway.errors import (
    ClientGone,
    GatewayError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    UpstreamError,
    WebUnavailable,
)
from wharf_gateway.manifest.definition import WebDefinition
from wharf_gateway.models import CallStatus, FunctionRecord, WebResponse
from wharf_gateway.responses import render_error, render_gateway_error
from wharf_gateway.scheduling.variants import web_variant
from wharf_gateway.security.hosts import hostname
from wharf_gateway.security.ratelimit import Budget, client_address
from wharf_gateway.server.state import GatewayState
from wharf_gateway.web.exchange import Exchange
from wharf_gateway.web.upstream import ResponseHead, response_headers

Scope = dict[str, Any]
Receive = Any
Send = Any

#: Request bodies up to this size are read before the request is sent on, so a request kept past
#: the request timeout still has its body; larger ones stream to the container as they come.
EAGER_BODY_BYTES = 1024 * 1024
#: Query parameters naming a kept request's call, the first the one the gateway sets.
#: Endpoints are also served under `/web/{workspace}--{label}/` on the gateway's own names.
WEB_PATH_PREFIX = "/web/"
RESULT_PARAMETERS = ("__modal_function_id", "__modal_function_call_id")


async def send_response(send: Send, response: WebResponse, *, made_here: bool = True) -> None:
    """Send a whole response. The gateway's own (errors, 302, 202) are readable from any origin,
    so a page's cross-origin `fetch` can follow a redirect or read an error."""
    headers = [(n, v) for n, v in response.headers if n.lower() != b"content-length"]
    headers.append((b"content-length", b"%d" % len(response.body)))
    if made_here and not any(n.lower() == b"access-control-allow-origin" for n, _ in headers):
        headers.append((b"access-control-allow-origin", b"*"))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})


def declared_length(scope: Scope) -> int | None:
    """The request body's length: as declared, 0 when there is none, None when it is chunked."""
    chunked = False
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
        chunked = chunked or name == b"transfer-encoding"
    return None if chunked else 0


def result_call_id(scope: Scope) -> str | None:
    query = str(scope.get("query_string", b"").decode("latin-1"))
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in RESULT_PARAMETERS:
            return value
    return None


def _result_path(scope: Scope, call_id: str) -> str:
    """This request's path and query with the call's id added (or kept)."""
    query = [
        (name, value)
        for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), True)
        if name not in RESULT_PARAMETERS
    ]
    query.append((RESULT_PARAMETERS[0], call_id))
    path = scope.get("root_path", "") + scope["path"]
    return f"{path}?{urlencode(query)}"


def _origin(scope: Scope, state: GatewayState, function: FunctionRecord) -> str:
    """Where the endpoint was reached, as configured: its custom domain (one the request named),
    the gateway itself (the path form), or its subdomain. Never the request's `Host` as sent."""
    address, web = state["address"], function.definition.web
    if web is None or web.host is None or scope["path"].startswith(f"{WEB_PATH_PREFIX}{web.host}"):
        return address.base_url
    requested = next(
        (hostname(v.decode("latin-1")) for n, v in scope["headers"] if n == b"host"), ""
    )
    for domain in web.custom_domains:
        if domain == requested:
            return f"{address.scheme}://{domain}"
    return address.endpoint_url(web.host)


def result_url(scope: Scope, state: GatewayState, function: FunctionRecord, call_id: str) -> str:
    """This request's URL with the call's id added (or kept): where its result will be. Built
    from the gateway's configuration (`_origin`), so a forged `Host` cannot end up in it."""
    return _origin(scope, state, function) + _result_path(scope, call_id)


async def request_body(receive: Receive, limit_bytes: int) -> AsyncIterator[bytes]:
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit_bytes:
            raise PayloadTooLarge(limit_bytes)
        yield chunk
        if not message.get("more_body", False):
            return


async def serve_endpoint(
    scope: Scope, receive: Receive, send: Send, state: GatewayState, host: str, root_path: str
) -> None:
    """Answer one request to the web endpoint at `host` (a label or a custom domain)."""
    try:
        scope, function = await admit(scope, state, host)
        call_id = result_call_id(scope)
        if call_id is not None:
            await _serve_result(scope, send, state, function, call_id)
            return
        take_web_budget(scope, state, function)
        web_variant(function, scope.get("query_string", b""))  # bad class parameters: 400
        length = declared_length(scope)
        limit = state["config"].max_web_body_bytes
        if length is not None and length > limit:
            raise PayloadTooLarge(limit)
        stream = request_body(receive, limit)
        body: AsyncIterator[bytes] | list[bytes] = stream
        if length is not None and length <= EAGER_BODY_BYTES:
            body = [chunk async for chunk in stream]  # read whole: it can be sent again
        if _web_of(function).wait_for_response:
            await _proxy(scope, send, state, function, root_path, body, length)
        else:
            await _accept(scope, send, state, function, root_path, body)
    except GatewayError as exc:
        await send_response(send, render_gateway_error(exc))
    except ClientGone:
        pass


async def admit(scope: Scope, state: GatewayState, host: str) -> tuple[Scope, FunctionRecord]:
    """The endpoint's function, once the caller may use it (the scope without its token).

    Raises:
        NotFound: no endpoint at `host`.
        Unauthorized: the endpoint wants a workspace token and has none of its workspace.
    """
    function = await state["apps"].endpoint(host)
    if function is None:
        raise NotFound(f"there is no web endpoint at {host!r}")
    if _web_of(function).requires_proxy_auth and not _is_preflight(scope):
        scope = await _proxy_authenticated(scope, state, function)
    return scope, function


def _is_preflight(scope: Scope) -> bool:
    """A browser's CORS preflight: it never carries credentials, so it goes through to the
    endpoint's app without them (the actual request that follows is checked as usual)."""
    return scope.get("method") == "OPTIONS" and any(
        name == b"access-control-request-method" for name, _ in scope["headers"]
    )


def take_web_budget(scope: Scope, state: GatewayState, function: FunctionRecord) -> None:
    """Charge a web request to its workspace: callers with its token to its web budget; anyone
    else first to their own address's bucket, then to its anonymous budget, so no caller can
    spend what the workspace's API calls or other callers need.

    Raises:
        RateLimited: naming which budget ran out.
    """
    limiter = state["rate_limiter"]
    if _web_of(function).requires_proxy_auth:
        limiter.take(function.workspace_id, Budget.WEB)
        return
    limiter.take_client(client_address(scope, state["config"].trust_forwarded_headers))
    limiter.take(function.workspace_id, Budget.ANONYMOUS_WEB)


def _web_of(function: FunctionRecord) -> WebDefinition:
    web = function.definition.web
    if web is None:  # only web functions have endpoints; a race with a redeploy at most
        raise NotFound(f"{function.name} is not a web endpoint")
    return web


#: Headers that carry a workspace token to an endpoint with `requires_proxy_auth`.
_PROXY_AUTH_HEADERS = (b"authorization", b"modal-key", b"modal-secret")


async def _proxy_authenticated(
    scope: Scope, state: GatewayState, function: FunctionRecord
) -> Scope:
    """Check the caller's workspace token; the container never sees it.

    Raises:
        Unauthorized: no token, a wrong one, or one of another workspace.
    """
    headers = dict(scope["headers"])
    key, secret = headers.get(b"modal-key"), headers.get(b"modal-secret")
    authority = state["auth"]
    client = client_address(scope, state["config"].trust_forwarded_headers)
    if key and secret:
        principal = await authority.check(key.decode("latin-1"), secret.decode("latin-1"), client)
    else:
        authorization = headers.get(b"authorization")
        principal = await authority.authenticate(
            None if authorization is None else authorization.decode("latin-1"), client
        )
    if principal.workspace_id != function.workspace_id:
        raise Unauthorized("the token is not valid")
    kept = [(n, v) for n, v in scope["headers"] if n not in _PROXY_AUTH_HEADERS]
    return {**scope, "headers": kept}


def _failure_response(exc: Exception, exchange: Exchange) -> WebResponse:
    if isinstance(exc, WebUnavailable):
        return render_error(503, exc.code, exc.message)
    if isinstance(exc, PayloadTooLarge):
        return render_gateway_error(exc)
    if exchange.timed_out:
        message = "the endpoint ran past its function's timeout"
        return render_error(504, ErrorCode.FUNCTION_TIMEOUT, message)
    return render_error(502, ErrorCode.BAD_GATEWAY, f"the endpoint's container failed: {exc}")


async def _proxy(
    scope: Scope,
    send: Send,
    state: GatewayState,
    function: FunctionRecord,
    root_path: str,
    body: AsyncIterator[bytes] | list[bytes],
    length: int | None,
) -> None:
    exchange = Exchange(state, function)
    opening = asyncio.ensure_future(exchange.open(scope, root_path, body, length))
    # Browsers refuse a redirected CORS preflight, and a streamed body cannot be kept for later,
    # so those requests wait for their answer instead of being redirected.
    # A kept one is redirected at the request timeout, or at once when the gateway shuts down
    # (it finishes its request first, and keeps the response for the next gateway to answer).
    streamed = length is None or length > EAGER_BODY_BYTES
    keepable = scope["method"] != "OPTIONS" and not streamed
    wait_s = state["config"].request_timeout_s if keepable else None
    until = (opening, state["calls"].draining) if keepable else (opening,)
    try:
        await asyncio.wait(until, timeout=wait_s, return_when=asyncio.FIRST_COMPLETED)
        if not opening.done():
            raise TimeoutError
        head = opening.result()
    except TimeoutError:
        active = await state["calls"].begin_web(function.workspace_id, function)
        _keep(state, _finish_kept(state, exchange, opening, active))
        await active.committed
        await _redirect(send, result_url(scope, state, function, active.task.call_id))
        return
    except (WebUnavailable, UpstreamError, PayloadTooLarge) as exc:
        exchange.close(healthy=not exchange.timed_out)
        await send_response(send, _failure_response(exc, exchange))
        return
    except BaseException:
        opening.cancel()
        exchange.close(healthy=True)
        raise
    await _stream(send, exchange, head)


async def _stream(send: Send, exchange: Exchange, head: ResponseHead) -> None:
    started = healthy = False
    try:
        await send(
            {
                "type": "http.response.start",
                "status": head.status,
                "headers": response_headers(head.headers),
            }
        )
        started = True
        pending = None  # one chunk held back, so the last one goes out with the end of the body
        async for chunk in exchange.body(head):
            if pending is not None:
                await send({"type": "http.response.body", "body": pending, "more_body": True})
            pending = chunk
            if head.length == "chunked" or head.length is None:
                await send({"type": "http.response.body", "body": pending, "more_body": True})
                pending = None
        await send({"type": "http.response.body", "body": pending or b""})
        healthy = True
    except UpstreamError:
        healthy = not exchange.timed_out
        if not started:
            raise
    finally:
        exchange.close(healthy=healthy)


async def _collect(exchange: Exchange, head: ResponseHead, limit_bytes: int) -> WebResponse:
    chunks: list[bytes] = []
    size = 0
    async for chunk in exchange.body(head):
        size += len(chunk)
        if size > limit_bytes:
            message = "the endpoint's response is too large to keep"
            return render_error(502, ErrorCode.BAD_GATEWAY, message)
        chunks.append(chunk)
    return WebResponse(head.status, response_headers(head.headers), b"".join(chunks))


async def _finish_kept(
    state: GatewayState,
    exchange: Exchange,
    opening: asyncio.Future[ResponseHead],
    active: ActiveCall,
) -> None:
    """Wait for a kept request's response, then keep it for its result URL."""
    healthy = True
    try:
        head = await opening
        response = await _collect(exchange, head, state["config"].max_body_bytes)
    except (WebUnavailable, UpstreamError, PayloadTooLarge, ClientGone) as exc:
        healthy = not exchange.timed_out
        response = _failure_response(exc, exchange)
    finally:
        exchange.close(healthy=healthy)
    state["calls"].finish_web(active, response)


async def _accept(
    scope: Scope,
    send: Send,
    state: GatewayState,
    function: FunctionRecord,
    root_path: str,
    body: AsyncIterator[bytes] | list[bytes],
) -> None:
    """`wait_for_response=False`: take the whole request now, answer 202, run it later."""
    chunks = body if isinstance(body, list) else [chunk async for chunk in body]
    active = await state["calls"].begin_web(function.workspace_id, function)
    exchange = Exchange(state, function)
    length = sum(len(chunk) for chunk in chunks)
    opening = asyncio.ensure_future(exchange.open(scope, root_path, chunks, length))
    _keep(state, _finish_kept(state, exchange, opening, active))
    await active.committed
    url = result_url(scope, state, function, active.task.call_id)
    await send_response(
        send,
        WebResponse(
            202,
            [(b"content-type", b"application/json"), (b"location", url.encode())],
            orjson.dumps({"result_url": url}),
        ),
    )


async def _serve_result(
    scope: Scope, send: Send, state: GatewayState, function: FunctionRecord, call_id: str
) -> None:
    """A result URL: the kept response once there is one, else 302 to itself. Never a new call.

    Raises:
        NotFound: the call is not a request to this endpoint (another endpoint's response, even
            of the same workspace, is never shown here: it may be behind proxy auth).
    """
    store = state["store"]
    record = await store.call(function.workspace_id, call_id)
    owner = None if record is None else await store.function_by_id(record.function_id)
    if owner is None or (owner.app_id, owner.name) != (function.app_id, function.name):
        raise NotFound(f"call {call_id} is not a request to this endpoint")
    outcome = await state["calls"].wait(
        function.workspace_id, call_id, state["config"].request_timeout_s
    )
    if outcome is None:
        await _redirect(send, result_url(scope, state, function, call_id))
    elif outcome.web is not None:
        await send_response(send, outcome.web, made_here=False)
    elif outcome.status is CallStatus.SUCCESS:
        raise NotFound(f"call {call_id} is not a request to this endpoint")
    else:
        error = outcome.error or {}
        code = parse_error_code(error.get("code")) or ErrorCode.INTERNAL
        await send_response(send, render_error(500, code, str(error.get("message"))))


async def _redirect(send: Send, location: str) -> None:
    await send_response(send, WebResponse(302, [(b"location", location.encode())], b""))


def _keep(state: GatewayState, coroutine: Any) -> None:
    """Run a kept request to its end, whatever happens to the caller's connection."""
    state["background"].spawn(coroutine)
