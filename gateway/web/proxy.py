"""Proxying one web request into a container of its endpoint's function, streaming both ways."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson

from gateway.errors import GatewayError, NotFound, PayloadTooLarge
from gateway.models import FunctionRecord
from gateway.state import GatewayState
from gateway.tasks import WebUnavailable
from gateway.web.upstream import UpstreamError, UpstreamPool, forwardable

Scope = dict[str, Any]
Receive = Any
Send = Any

#: Header telling the container's web app the path prefix it is mounted under.
ROOT_PATH_HEADER = b"x-wharf-root-path"


class _ClientGone(Exception):
    """The caller disconnected before sending its whole body."""


async def send_error(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps({"error": {"code": code, "message": message}})
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def upstream_headers(scope: Scope, root_path: str) -> list[tuple[bytes, bytes]]:
    """The caller's headers for the container: hop-by-hop ones dropped, `X-Forwarded-*` set."""
    headers = [
        (name, value)
        for name, value in forwardable(scope["headers"])
        if not name.startswith(b"x-forwarded-") and name != ROOT_PATH_HEADER
    ]
    client = scope.get("client")
    if client:
        headers.append((b"x-forwarded-for", str(client[0]).encode()))
    headers.append((b"x-forwarded-proto", str(scope.get("scheme", "http")).encode()))
    if root_path:
        headers.append((ROOT_PATH_HEADER, root_path.encode()))
    return headers


def upstream_target(scope: Scope, root_path: str) -> bytes:
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    if root_path:
        path = path[len(root_path.encode()) :] or b"/"
    query: bytes = scope.get("query_string", b"")
    return path + (b"?" + query if query else b"")


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit():
            return int(value)
    return None


async def request_body(receive: Receive, limit_bytes: int) -> AsyncIterator[bytes]:
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
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
        function = await state["apps"].endpoint(host)
        if function is None:
            raise NotFound(f"there is no web endpoint at {host!r}")
        state["rate_limiter"].take(function.workspace_id)
        length = declared_length(scope)
        limit = state["config"].max_web_body_bytes
        if length is not None and length > limit:
            raise PayloadTooLarge(limit)
        await _proxy(scope, receive, send, state, function, root_path, length)
    except GatewayError as exc:
        await send_error(send, exc.status, exc.code, exc.message)


async def _proxy(
    scope: Scope,
    receive: Receive,
    send: Send,
    state: GatewayState,
    function: FunctionRecord,
    root_path: str,
    length: int | None,
) -> None:
    scheduler = state["scheduler"]
    pool: UpstreamPool = state["upstreams"]
    try:
        async with asyncio.timeout(state["config"].request_timeout_s):
            task, address = await scheduler.lease(function.workspace_id, function)
    except WebUnavailable as exc:
        await send_error(send, 503, exc.failure.code, exc.failure.message)
        return
    except TimeoutError:
        await send_error(
            send, 504, "gateway_timeout", "no container could take the request in time"
        )
        return
    healthy, started = True, False
    port = int(address.web_port or 0)
    try:
        connection = await pool.connection(address.host, port)
        body = request_body(receive, state["config"].max_web_body_bytes)
        await connection.send(
            scope["method"],
            upstream_target(scope, root_path),
            upstream_headers(scope, root_path),
            body,
            length,
        )
        head = await connection.read_head(scope["method"])
        await send(
            {
                "type": "http.response.start",
                "status": head.status,
                "headers": forwardable(head.headers),
            }
        )
        started = True
        async for chunk in connection.body(head):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        pool.give_back(address.host, port, connection)
    except UpstreamError as exc:
        healthy = "refused" not in str(exc)
        if not started:
            await send_error(send, 502, "bad_gateway", f"the endpoint's container failed: {exc}")
    except _ClientGone:
        pass
    finally:
        scheduler.release(task, healthy=healthy)
