"""WebSockets through the gateway: one connection is one function call, relayed both ways.

The caller's handshake is checked like any endpoint request (rate limit, proxy auth), a container
slot is held for the whole connection, and text, binary, ping/pong (by the protocol libraries on
each side) and close codes with reasons pass through. Messages are limited to 2 MiB: a bigger one
closes the connection with 1009 (the ASGI server enforces it on the caller's side).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from gateway.errors import GatewayError
from gateway.state import GatewayState
from gateway.tasks import WebUnavailable
from gateway.web.exchange import upstream_headers, upstream_target
from gateway.web.proxy import admit

Scope = dict[str, Any]

#: Largest WebSocket message, each way (DESIGN.md 2.4).
MAX_MESSAGE_BYTES = 2 * 1024 * 1024
#: Close code when no container can take the connection ("try again later").
TRY_AGAIN_LATER = 1013
#: Close code when the container side fails.
INTERNAL_ERROR = 1011
#: Headers the WebSocket client library sets for itself.
_HANDSHAKE_HEADERS = frozenset(
    {
        b"host",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-extensions",
        b"sec-websocket-protocol",
        b"upgrade",
        b"connection",
        b"content-length",
    }
)


async def _refuse(send: Any) -> None:
    """Close before accepting: the caller's handshake gets 403."""
    await send({"type": "websocket.close", "code": 1008})


async def serve_websocket(
    scope: Scope, receive: Any, send: Any, state: GatewayState, host: str, root_path: str
) -> None:
    """Relay one WebSocket connection to a container of the endpoint at `host`."""
    try:
        scope, function = await admit(scope, state, host)
        state["rate_limiter"].take(function.workspace_id)
        # A handshake cannot be redirected to a result URL: it waits for a container (the
        # caller's own timeout, or a failed start, ends the wait).
        task, address = await state["scheduler"].lease(function.workspace_id, function)
    except (GatewayError, WebUnavailable):
        await _refuse(send)
        return
    healthy = True
    try:
        healthy = await _relay(
            scope, receive, send, f"{address.host}:{address.web_port}", root_path
        )
    finally:
        state["scheduler"].release(task, healthy=healthy)


async def _relay(scope: Scope, receive: Any, send: Any, upstream: str, root_path: str) -> bool:
    """Connect to the container and pass messages until either side closes; returns whether
    the container side behaved."""
    headers = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in upstream_headers(scope, root_path)
        if name not in _HANDSHAKE_HEADERS
    ]
    target = upstream_target(scope, root_path).decode("latin-1")
    try:
        container = await connect(
            f"ws://{upstream}{target}",
            subprotocols=scope.get("subprotocols") or None,
            additional_headers=headers,
            max_size=MAX_MESSAGE_BYTES,
            compression=None,
            ping_interval=None,
        )
    except InvalidStatus:
        await _refuse(send)  # the app itself refused the handshake
        return True
    except (OSError, InvalidHandshake):
        await send({"type": "websocket.close", "code": INTERNAL_ERROR})
        return False
    async with container:
        await send({"type": "websocket.accept", "subprotocol": container.subprotocol})
        caller_gone = asyncio.Event()
        to_container = asyncio.create_task(_from_caller(receive, container, caller_gone))
        to_caller = asyncio.create_task(_from_container(send, container, caller_gone))
        _, pending = await asyncio.wait(
            (to_container, to_caller), return_when=asyncio.FIRST_COMPLETED
        )
        for task in pending:
            task.cancel()
        for task in (to_container, to_caller):
            with contextlib.suppress(asyncio.CancelledError, ConnectionClosed, OSError):
                await task
    # Only a container that went away without a close frame is unhealthy; a caller that left
    # (or any clean close) leaves the container as good as it was.
    return container.close_code not in (None, 1006)


async def _from_caller(
    receive: Any, container: ClientConnection, caller_gone: asyncio.Event
) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            caller_gone.set()
            code = int(message.get("code", 1000))
            reason = str(message.get("reason") or "")
            # 1005/1006 may not be sent on the wire; the caller just went away.
            await container.close(code if code not in (1005, 1006) else 1000, reason)
            return
        if message.get("bytes") is not None:
            await container.send(message["bytes"])
        elif message.get("text") is not None:
            await container.send(message["text"])


async def _from_container(
    send: Any, container: ClientConnection, caller_gone: asyncio.Event
) -> None:
    try:
        async for message in container:
            if isinstance(message, bytes):
                await send({"type": "websocket.send", "bytes": message})
            else:
                await send({"type": "websocket.send", "text": message})
    except ConnectionClosed:
        pass
    code = container.close_code
    reason = container.close_reason or ""
    if code is None or code == 1006:  # closed without a close frame: the container went away
        code, reason = INTERNAL_ERROR, "the container went away"
    elif code == 1005:  # a close frame without a code
        code = 1000
    if not caller_gone.is_set():
        await send({"type": "websocket.close", "code": code, "reason": reason})
