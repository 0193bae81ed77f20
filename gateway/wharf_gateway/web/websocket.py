"""WebSockets through the gateway: one connection is one function call, relayed both ways.

The caller's handshake is checked like any endpoint request (rate limit, proxy auth), a container
slot is held for the whole connection, and text, binary, ping/pong (by the protocol libraries on
each side) and close codes with reasons pass through. Messages are limited to 2 MiB: a bigger one
closes the connection with 1009 (the ASGI server enforces it on the caller's side).
"""

from __future__ import annotations

from typing import Any

from websockets.exceptions import InvalidHandshake, InvalidStatus
from wharf_runner import ContainerAddress

from wharf_gateway.errors import GatewayError, WebUnavailable
from wharf_gateway.scheduling.variants import web_variant
from wharf_gateway.server.state import GatewayState
from wharf_gateway.web.container_socket import INTERNAL_ERROR, ContainerSocket
from wharf_gateway.web.exchange import upstream_headers, upstream_target
from wharf_gateway.web.proxy import admit, take_web_budget

Scope = dict[str, Any]

#: Largest WebSocket message, each way (docs/web-endpoints.md).
MAX_MESSAGE_BYTES = 2 * 1024 * 1024
#: Close code when no container can take the connection ("try again later").
TRY_AGAIN_LATER = 1013
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
        take_web_budget(scope, state, function)
        # A handshake cannot be redirected to a result URL: it waits for a container (the
        # caller's own timeout, or a failed start, ends the wait).
        variant = web_variant(function, scope.get("query_string", b""))
        lease, address = await state["scheduler"].lease(function, variant)
    except (GatewayError, WebUnavailable):
        await _refuse(send)
        return
    healthy = True
    try:
        healthy = await _relay(scope, receive, send, address, root_path)
    finally:
        state["scheduler"].release(lease, healthy=healthy)


async def _relay(
    scope: Scope, receive: Any, send: Any, address: ContainerAddress, root_path: str
) -> bool:
    """Connect to the container and pass messages until either side closes; returns whether
    the container side behaved."""
    try:
        container = await ContainerSocket.open(
            address.host,
            int(address.web_port or 0),
            upstream_target(scope, root_path).decode("latin-1"),
            subprotocols=scope.get("subprotocols"),
            headers=_forwarded_headers(scope, root_path),
            max_message_bytes=MAX_MESSAGE_BYTES,
            send=send,
        )
    except InvalidStatus:
        await _refuse(send)  # the app itself refused the handshake
        return True
    except (OSError, InvalidHandshake, TimeoutError):
        await send({"type": "websocket.close", "code": INTERNAL_ERROR})
        return False
    code, reason = 1000, ""
    try:
        await send({"type": "websocket.accept", "subprotocol": container.subprotocol})
        container.start()
        # Ends when the caller goes away, or when the container's close has been passed on.
        while (message := await receive())["type"] != "websocket.disconnect":
            await container.send(message)
        code, reason = int(message.get("code", 1000)), str(message.get("reason") or "")
    finally:
        container.close(code, reason)
    # Only a container that went away without a close frame is unhealthy; a caller that left
    # (or any clean close) leaves the container as good as it was.
    return not container.went_away


def _forwarded_headers(scope: Scope, root_path: str) -> list[tuple[str, str]]:
    return [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in upstream_headers(scope, root_path)
        if name not in _HANDSHAKE_HEADERS
    ]
